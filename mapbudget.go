package chunkmap

// This file holds the shares of the system's mappings and of the
// process's descriptors that the Managers of a process keep between them:
// process-wide counters, read and changed with atomics and no lock, and
// the checks that refuse a new Manager or more held chunks where they
// would take the process near the system's limits (the system's own
// figures are read in mapbudget_linux.go).

import (
	"fmt"
	"math"
	"sync/atomic"
	"syscall"
)

// mappedInProcess counts the chunk mappings of every Manager in the
// process, in arenas and in private views, against mapBudget.
var mappedInProcess atomic.Int64

// arenasHeld counts the Managers of the process that hold an arena: open
// ones, and closed ones whose pins or batches still hold chunks. Each holds
// about two mappings besides its chunks' (the arena's reservation and the
// manifest's state page), as many as a chunk, so each counts as one against
// mapBudget: the more Managers, the fewer chunks they keep mapped. (A
// closed Manager's range waits for the garbage collector, where address
// space is plentiful, but no longer counts: the collector runs as the
// program allocates, and the ranges of Managers closed one after another
// usually lie side by side, where the system keeps them as one mapping.)
var arenasHeld atomic.Int64

// retiredPages counts the state pages of closed Managers that wait for the
// garbage collector (releaseArenaLocked). Each is a mapping of its own:
// the pages were written, so the system does not merge neighbours. Open
// (roomForArena) and the chunks' share (mapsOverBudget) count them, or a
// program whose collector seldom runs (a large live heap, GOGC=off) and
// which opens and closes Managers in a loop, or keeps closed ones
// reachable, would reach the system's limit of mappings, and its runtime
// would die at its next mapping.
var retiredPages atomic.Int64

// overMapBudget reports whether the Managers of the process hold their
// share of the system's mappings (see mapBudget), or of its descriptors
// (see fileMapBudget).
func overMapBudget() bool { return mapsOverBudget() >= 0 }

// pastMapBudget reports whether the Managers of the process hold more
// than their share of mappings or descriptors: what the release of a last
// hold gives back. A Manager maps up to the share (a map at it unmaps one
// of its own first, overMapBudget), so the share held is no excess; a
// release that evicted at it left room below the share that the next miss
// took again, and a pin of a mapped chunk cost a remap.
func pastMapBudget() bool { return mapsOverBudget() > 0 }

// mapsOverBudget returns how many more mappings the Managers of the
// process hold than the lower of their two shares (of the system's
// mappings and of the process's descriptors), negative where they hold
// fewer. The state pages of closed Managers that wait for the collector
// count against the first, two to a chunk (which takes two mappings, its
// own and the split it makes in its arena's reservation); they hold no
// descriptor. The open Managers' own descriptors count against the second,
// and so do their scratch chunks' where they leave less (filesRoom).
func mapsOverBudget() int64 {
	mapped := mappedInProcess.Load()
	held := mapped + arenasHeld.Load()
	files := fileMapBudget.Load()
	return max(held+(retiredPages.Load()+1)/2-mapBudget(), mapped-min(files-managerFiles.Load(), filesRoom(files)))
}

// managerFiles counts the descriptors the open Managers of the process
// hold of their own (Manager.ownFiles: four for a writer, three for a
// reader), against fileMapBudget.
var managerFiles atomic.Int64

// fileMapBudget is the most descriptors the Managers of the process keep
// open between them for their mapped chunks and themselves (managerFiles:
// their directories, locks and manifests). Every mapped chunk keeps its
// file open, so it is a quarter of the process's descriptor limit
// (processFileBudget), as the descriptor caches may take another quarter
// (fileBudgetInProcess). With MaxMapped at its default, a Manager of small
// chunks maps up to 1,024 of them; several such Managers would otherwise
// take the descriptors the rest of the program needs, and learn of the
// limit only when the system refuses them a file. It is read lock-free on
// the paths that release holds, so it is kept here and refreshed, from the
// limit as it is then, by every Open and wherever the caches read the
// limit.
var fileMapBudget atomic.Int64

// refreshFileMapBudget sets fileMapBudget from the descriptor limit as it
// is now.
func refreshFileMapBudget() {
	fileMapBudget.Store(processFileBudget())
}

func init() { refreshFileMapBudget() }

// roomForArena refuses a new Manager where the Managers of the process
// would hold more than three quarters of the mappings the system allows it,
// about four times mapBudget: chunks give way to Managers (overMapBudget),
// but a chunk mapped in an idle Manager stays until that Manager maps
// another, and the arenas and state pages of Managers never give way. The
// rest of the program keeps at least a quarter, and a Go program whose
// runtime cannot map a heap arena or a thread's stack dies. The error
// matches syscall.ENOMEM, as the system's refusal would.
func roomForArena() error {
	return roomForMaps(mapBudget(), 1, 6, "three quarters", "close Managers, or raise the limit: sysctl vm.max_map_count")
}

// roomForChunks refuses n more chunks where the Managers of the process
// would then hold more than seven eighths of the mappings the system
// allows it. Pins, batches and atomics map the chunks they hold past the
// share of mappings (mapBudget) when the Manager has none of its own to
// give back, and held chunks never give way, so without it enough of them
// held at once take the process to the system's limit, where the runtime's
// next mapping kills it. Its bound lies past roomForArena's, so that the
// Managers Open let in may still map what they hold. The refusal is
// handled as the system's would be (refused): the Manager gives back what
// it can and tries again, ReadAt and WriteAt fall back to pread and
// pwrite, and the other calls return it.
func roomForChunks(n int64) error {
	return roomForMaps(systemShare(), n, 7, "seven eighths", "release pins, end batches, or raise the limit: sysctl vm.max_map_count")
}

// roomForMaps refuses n more chunks' worth of mappings (two each: the
// chunk, and the piece of its arena's reservation it splits off) where the
// Managers of the process would then hold more than eighths/8 (said as
// share) of the mappings the system allows it, four times b, with an error
// that matches syscall.ENOMEM and says what, besides raising the limit,
// gives room.
func roomForMaps(b, n, eighths int64, share, what string) error {
	if b > math.MaxInt64/8 {
		return nil // no count of mappings here
	}
	retired := retiredPages.Load()
	held := 2*(mappedInProcess.Load()+arenasHeld.Load()+n) + retired
	if 2*held <= eighths*b {
		return nil
	}
	var waiting string
	if retired > 0 {
		waiting = fmt.Sprintf("; %d of them are the state pages of closed Managers that wait for the garbage collector (drop references to closed Managers; runtime.GC collects them)", retired)
	}
	return &roomRefusal{fmt.Errorf("the Managers of the process would hold about %d of the %d mappings the system allows it (vm.max_map_count), more than %s: %w (%s)%s", held, 4*b, share, syscall.ENOMEM, what, waiting)}
}

// roomRefusal is roomForMaps' refusal, which says what to do itself
// (refusalError adds nothing to it).
type roomRefusal struct{ err error }

func (r *roomRefusal) Error() string { return r.err.Error() }
func (r *roomRefusal) Unwrap() error { return r.err }

// mapBudget returns the most chunk mappings the Managers of the process
// keep between them, each Manager holding an arena counting as one
// (arenasHeld), read from the system once it can be (systemMapBudget), or
// set by a test (testMapBudget, when not 0). A Manager about to map a chunk
// while they have as many gives back one of its own first; one with none
// to give back serves ReadAt and WriteAt without a mapping, and maps for a
// pin, a batch or an atomic all the same; the others give back theirs as
// they map.
func mapBudget() int64 {
	if b := testMapBudget.Load(); b != 0 {
		return b
	}
	return systemShare()
}

// systemShare is mapBudget as the system sets it, whatever share a test
// set (testMapBudget): the bound of roomForChunks, which is about the
// system's limit itself, not the share.
func systemShare() int64 {
	if b := systemBudget.Load(); b != 0 {
		return b
	}
	b, final := systemMapBudget()
	if final {
		systemBudget.Store(b)
	}
	return b
}

var (
	// systemBudget is systemMapBudget once read for good; 0 before. A
	// read that was refused (no descriptor left) is not kept, or the
	// process would keep Linux's default for its life, whatever the
	// system's limit.
	systemBudget  atomic.Int64
	testMapBudget atomic.Int64
)
