package chunkmap

// This file holds the Manager type, its invariants and lock rules, and the
// small methods that need no more than that: the getters, Stats and Close.
// The rest lives by concern:
//
//	open.go      Open: checking a directory, recovery after a crash
//	slots.go     the arena: which chunk is mapped where, holds, eviction
//	relieve.go   the bound on mapped chunks when the system refuses a map
//	mapbudget.go the process-wide shares of mappings and descriptors
//	hot.go       the lock-free access paths and the fault guard
//	io.go        ReadAt, WriteAt and their slow paths
//	extend.go    Append, and writes past Size: claims and their publication
//	admit.go     Admission, and pread/pwrite for chunks not worth mapping
//	resize.go    growth, Grow, Truncate, DropBefore
//	ahead.go     chunk files a large growth needs, made by the maker
//	spread.go    a large growth write split over two goroutines
//	sync.go      dirty tracking and Sync
//	manifest.go  the manifest's records; shared.go its shared state page
//	pin.go       Pin and Pinned; batch.go Batch; gather.go Gather/Scatter
//	atomic.go    the atomics; advise.go hints; stats.go Stats
//	follow.go    ReadOnly Managers following a writer
//	remove.go    Remove
//
// Files named name_os.go hold what differs by platform.
//
// Invariants (each holds whenever mu is not held):
//
//   - Chunk files [first, first+nchunks) exist, each ChunkSize bytes, with no
//     gap; Start = first*ChunkSize <= Size <= reserved <= capacity =
//     (first+nchunks)*ChunkSize.
//   - Chunk i can be mapped only at slot i mod len(slots) of the arena (see
//     slots.go for a slot's states). A slot's own word names the chunk a
//     lock-free access may use there; it is set only by mu holders, after
//     the chunk is mapped, and cleared before the slot is unmapped or given
//     to another chunk.
//   - A chunk stored to through an arena slot since the last Sync has its
//     slot's dirty flag set and its mapping queued in dirtyq, or is listed
//     by index in dirty (written with pwrite, or unmapped since).
//   - Bytes at or past hwm are zero in every chunk file; bytes in
//     [reserved, hwm) may hold stale data (from before a Truncate, or
//     unsynced writes before a crash) and are zeroed before Size covers them.
//
// Lock order: resize, then syncMu, then mu. The lock-free paths take none
// of them, and no lock is held while user code runs (a Batch function, for
// one), so user code may call any method.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/chunkmap/chunkmap/internal/arena"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/cond"
	"github.com/chunkmap/chunkmap/internal/msgdir"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// maxOffset is the largest offset a dataset may reach.
const maxOffset = math.MaxInt64

// Manager is a growable dataset of fixed-size, memory-mapped chunk files that
// behaves like one file which never has to be remapped.
//
// A Manager is safe for concurrent use by multiple goroutines, Close
// included; calls after Close return ErrClosed. A Manager must not be
// copied. Only [Open] makes a usable one: a zero Manager (declared, or
// new(Manager)) is a closed one, whose every call returns ErrClosed.
//
// At most [Options.MaxMapped] chunks are mapped at once, plus the chunks held
// by pins, open batches, a Sync and atomic operations in progress. Held
// chunks are never unmapped, so MaxMapped is exceeded (never waited on)
// while more chunks than that are held. A miss that maps its chunk at the
// bound unmaps one that nobody holds: by default (admission, see
// [Options.NoAdmission]) only a chunk missed recently more than twice as
// often as the mapped chunk with the fewest recent uses is mapped, in that
// chunk's place, and ReadAt and WriteAt serve the other misses with pread
// and pwrite; with NoAdmission every miss maps its chunk in place of the
// least recently used one.
type Manager struct {
	dir       string // the directory as Open resolved it: every file is joined to it
	given     string // dir as given to Open, for Dir
	opts      Options
	chunkSize int64
	shift     uint
	mask      int64
	rmul      uint64 // recentMul(shift), for Gather's and Scatter's tables of chunks

	// The arena: one reserved range of address space in which every chunk
	// has a fixed place (slots.go). Fixed for the Manager's life.
	ar    *arena.Arena
	slots []slot // one per slot of ar; a power of two of them
	smask int64  // len(slots)-1
	// cached counts the files in mu.fds, for the process's count when
	// the Manager is dropped unclosed (see newManager).
	cached *atomic.Int64
	// scarce is set where address space is scarce (a 32-bit process, or
	// one with RLIMIT_AS): Close then gives the arena back at once (see
	// releaseArenaLocked).
	scarce bool
	// abase is the arena's first byte where it is contiguous: slot k is at
	// abase + k*ChunkSize. fbase holds each slot's address where it is not
	// (see arena.Arena.Contiguous), and is nil otherwise.
	abase unsafe.Pointer
	fbase []atomic.Pointer[byte]
	// contiguous is whether slot k+1 follows slot k in memory; fixed at
	// Open, so it may be read with no lock, also after Close.
	contiguous bool

	// live is set by Open once the Manager is built and cleared by Close:
	// a Manager that Open did not return (a zero Manager) is closed, and
	// every method returns ErrClosed instead of touching files.
	live atomic.Bool
	// st holds Start and Size. It is the Manager's own: the lock-free
	// paths read it without a guard. A writer mirrors every change into
	// the manifest's shared state page (shared), so that it is in the page
	// cache at once, where a crash of the process cannot lose it, and
	// readers in other processes see it; a reader copies the shared values
	// into st when it follows (follow.go).
	st statePage
	// shared is the manifest's mapped state page (shared.go); nil for
	// Scratch and for a reader of a version 1 manifest. follows is set for
	// a reader that has one: its reads check the page first.
	shared  *sharedPage
	follows atomic.Bool
	// seen is the shared page's epoch this reader last reconciled its open
	// chunk files with (follow.go). followedLive is set once it took Start
	// and Size from a page a live writer set up, and cleared by a Refresh
	// that reads the manifest's records instead (pageGone).
	seen         atomic.Uint64
	followedLive atomic.Bool
	// fsys is the file system every file operation goes through; boot is
	// its boot ID as the state page records it, fixed at Open.
	fsys vfs.FS
	boot [48]byte
	// mfile is the open manifest file, with the mapping st points into; nil
	// for Scratch and for a reader of a version 1 manifest. mfileOpen is
	// set where Close leaves the file open for the mapping (see Close).
	mfile     *manifestFile
	mfileOpen bool
	// ownFiles is how many descriptors the Manager holds open of its own,
	// from Open to Close (counted in managerFiles); nil before Open
	// counted them (opened).
	ownFiles *atomic.Int64
	// scratchFiles is how many descriptors the Manager's scratch chunks
	// hold (counted in the process's scratchFiles); nil before opened.
	scratchFiles *atomic.Int64
	// allocStep is the granularity in which chunk files are allocated on
	// disk ahead of writes, and allocAlign that of the prefix of a chunk
	// counted as allocated (resize.go); fillChunks is set where the file
	// system cannot allocate a range, so new chunks are written whole;
	// holesFault where reading a hole through a mapping needs a page
	// (tmpfs), so this Manager leaves no byte it brings below Size a hole
	// (reserveLocked); holes the dataset had at Open stay.
	allocStep  int64
	allocAlign int64 // see allocAlign in resize.go
	fillChunks bool
	holesFault bool
	// failed holds the first fsync (or msync) error; every later Sync and
	// write returns it, because after a failed fsync the kernel may have
	// dropped the dirty pages and nothing can be promised about them.
	failed atomic.Pointer[error]
	// lateHolds is set when a pin or Batch lets go of a writable hold
	// after Close began: it may have stored after Close's sync, so Close
	// must not mark the state page clean (writableHeldLocked).
	lateHolds atomic.Bool
	// batches counts open Batch scopes, so that Close can report them;
	// nothing waits for it to fall.
	batches atomic.Int32
	// over is set while more chunks are mapped than the bound in force,
	// mu.mapBound (because they are held), so that the release of a hold
	// knows to evict.
	over atomic.Bool
	// shrinks, shrinking and deletions change only around shrinks and
	// deletions, and every lock-free read loads shrinks: they keep a cache
	// line of their own, away from batches (every Batch call) and the
	// counters of misses below.
	_ [64]byte
	// shrinks advances whenever bytes an open Batch may have cached stop
	// being what the Batch may hand out: Size shrinks, Start moves, a
	// chunk is deleted, a Sync fails, or the Manager closes. A Batch
	// checks it on its fast path (batch.go).
	shrinks atomic.Uint64
	// shrinking counts changes of Size or Start under way (beginShrink):
	// a Batch caches nothing while it is not 0, since what it reads may
	// be the old value under the new epoch.
	shrinking atomic.Int32
	// deletions advances whenever chunk files may have been deleted (by
	// this Manager, or for a follower by its writer): private views and
	// the file identities they keep are trusted only while it stands.
	deletions atomic.Uint64
	_         [64]byte

	hits, misses, maps, unmaps, evictions atomic.Int64

	// resize is held shared for their whole duration by the writes that
	// take the locked path (every Append, and a WriteAt past Size or off
	// its fast path, a value of Scatter that misses), by a Grow of
	// fileRun chunks or fewer and by a read made again after a second
	// shrink (readAgain); and exclusively by calls that shrink the dataset
	// (Truncate, DropBefore, Close) and by growth of more than fileRun
	// chunk files (a Truncate that extends it, a Grow, a small write far
	// past Size), which lets go of mu between its files (see fileRun). So
	// a shrink never interleaves with a half-done extension, and such a
	// growth with no other.
	resize sync.RWMutex
	// syncMu serialises Sync, Truncate, DropBefore and Close.
	syncMu sync.Mutex
	// ahead holds the chunk files made ahead of growth (ahead.go).
	ahead ahead
	// stages holds the staging buffers of spread writes, of ChunkSize
	// bytes each (spread.go).
	stages sync.Pool

	mu struct {
		sync.Mutex
		lock *dirLock // nil for ReadOnly and Scratch
		// unbind closes the handles of the directory that fsys works
		// in (vfs.Bind); nil for Scratch.
		unbind func() error

		// The dataset's extent.
		first    int64
		nchunks  int64
		reserved int64          // end of the bytes handed to writers
		claims   uint64         // ranges handed to writers so far (extend.go)
		unalloc  claim          // the latest claim, if its write allocates its blocks (claimLocked)
		grows    uint64         // Grow calls so far (claims give back only chunks no Grow used)
		hwm      int64          // bytes at or past hwm are zero
		pending  pendingAppends // appends done out of order (extend.go)
		// ids holds, for chunks in dirty, the identity of the file the
		// unsynced writes went to, where known, so that Sync can tell
		// when another program removed or replaced it (sync.go). It is
		// as large as dirty at most; never kept for Scratch.
		ids map[int64]fs.FileInfo
		// covered is signalled when Size grows over pending appends, whose
		// callers wait for it before they return (Append). It and idle
		// are cond.Conds: a waiter and its waker may be on either side
		// of a testing/synctest bubble's edge.
		covered cond.Cond
		scratch map[int64]*chunk.File
		// removeLater holds chunks deleted while held whose files wait
		// for the last release (only where unmapBeforeRemove).
		removeLater map[int64]struct{}
		// fdsInUse counts, per chunk, the files dropped from the fd cache
		// that a pread still has open: where unmapBeforeRemove, such a
		// file cannot be deleted either (see removeLaterLocked).
		fdsInUse map[int64]int
		// cutsSeen is, for a following reader, the shared page's count
		// of cuts whose chunk files were gone as of its last reconcile,
		// in the numbering cutsID (keptBelowLocked). cutsID is 0, which
		// no numbering has, before the first reconcile, after one that
		// had no count, and from Refresh on: the next looks at every
		// name.
		cutsSeen uint64
		cutsID   uint64

		// The mapped chunks (slots.go).
		evicting bool                            // evictLocked runs: unliveLocked leaves over alone
		lru      *simplelru.LRU[int64, *mapping] // mapped in their slot, by recency
		live     []*mapping                      // the same, in no order; scanned without allocating
		doomed   []*mapping                      // deleted while held; unmapped at the last release
		views    []*viewHold                     // private views of pins and batches (pin.go)
		slotErr  error                           // the first error unmapping a slot, for Close
		// detached is set by Close once it has let go of the manifest's
		// state page (detachStateLocked): only then may the arena and
		// the page be retired (releaseArenaLocked).
		detached bool
		// unmapping collects the slots Close empties (with their
		// chunks' indexes), to empty them together (unmapCollectedLocked);
		// nil otherwise, when each slot is emptied as it goes.
		unmapping *[]slotChunk

		// The bound on mapped chunks under a shortage (relieve.go).
		// mapBound is the most chunks kept mapped that nobody holds:
		// MaxMapped, lowered when the system refuses a mapping for want
		// of memory, mappings or descriptors (see refusedLocked), and
		// raised again after raiseAfter misses since calmFrom (the
		// misses counter at the last refusal or raise) with no refusal;
		// raised says one was made since the last refusal, refusals
		// counts them, and mapsShort and filesShort say one of them was
		// for want of mappings or memory, and of descriptors; lookAfter,
		// when above raiseAfter, is the wait after looks for room that
		// found none (see recoverLocked). unmapped says the last refusal
		// found no chunk of the Manager's mapped, so it lowered nothing.
		mapBound   int
		raiseAfter int64
		lookAfter  int64
		calmFrom   int64
		raised     bool
		mapsShort  bool
		filesShort bool
		unmapped   bool
		refusals   int64

		// Admission (admit.go).
		freq     map[int64]uint16 // recent misses per unmapped chunk
		ticks    int              // counts since freq last halved
		unfolded int              // misses since the last foldUsedLocked
		victim   *mapping         // the mapped chunk admission would replace
		fds      map[int64]*fdEntry
		fdHits   int // uses of cached files, for fdRoomLocked
		// pwrites counts pwrites in flight (fileIOLocked), which mark
		// their chunk after the store, outside mu: Close waits for them
		// before its final Sync. idle is signalled when it falls to 0.
		pwrites int
		idle    cond.Cond

		// Durability (sync.go).
		dirty    map[int64]struct{} // chunks to fsync by index
		dirtyq   []*mapping         // mappings whose dirty flag was set since the last Sync took the queue
		dirDirty bool               // chunk files were created or removed since the last Sync
		// clean decides which small writes go to the files with
		// pwrite until the next Sync (see cleanWrites).
		clean   cleanBudget
		durable manifest // what the manifest's newest record says
		seq     uint64   // that record's sequence number
		// pageSynced is the Start and Size the shared state page held
		// when the manifest was last fsync'd, which a file system that
		// fails under a live machine leaves on disk (see syncPageLocked);
		// {-1, -1} where that is not known.
		pageSynced [2]int64
		// alloc is, per chunk, what the Manager knows of its file's
		// blocks on disk (resize.go), forgotten with the chunk
		// (forgetAllocLocked).
		alloc  map[int64]chunkAlloc
		probed bool // fillChunks is known (createLocked)
		// noHoles is set once punching a hole in a chunk file failed as
		// unsupported: stale bytes are zeroed in place from then on
		// (zeroStaleLocked).
		noHoles bool
	}
}

func log2(n int64) uint { return uint(bits.TrailingZeros64(uint64(n))) }

// ChunkSize returns the size of each chunk file in bytes.
func (m *Manager) ChunkSize() int64 { return m.chunkSize }

// MaxMapped returns the bound on mapped chunks the Manager keeps:
// [Options.MaxMapped], or the default Open chose for a zero one (from the
// chunk size, the process's limit of open files and, on Linux, its
// memory). A shortage of the system's lowers the bound in force for a
// while (Stats.Lowered), not this.
func (m *Manager) MaxMapped() int { return m.opts.MaxMapped }

// Size returns the logical length of the dataset: one past the highest byte
// written, or as set by Truncate (a new dataset's Size is its Start, see
// Options.Start). Bytes of an Append still in progress are
// not counted until every earlier Append has finished.
func (m *Manager) Size() int64 {
	if m.follows.Load() {
		m.pull() // an error leaves the last values: Size cannot report it
	}
	return m.state().size.Load()
}

// Start returns the first readable offset: where the dataset was created to
// begin (Options.Start, 0 by default) until DropBefore moves it up, and
// always a multiple of ChunkSize.
func (m *Manager) Start() int64 {
	if m.follows.Load() {
		m.pull()
	}
	return m.state().start.Load()
}

// state returns the state page holding Start and Size.
func (m *Manager) state() *statePage { return &m.st }

// ReadOnly reports whether the Manager was opened with [Options.ReadOnly].
func (m *Manager) ReadOnly() bool { return m.opts.ReadOnly }

// Dir returns the dataset's directory as it was given to Open. (The
// Manager works in that directory as Open resolved it, which error
// messages name.)
func (m *Manager) Dir() string { return m.given }

func init() {
	msgdir.Dir = func(m any) string { return m.(*Manager).dir }
}

var (
	_ io.ReaderAt = (*Manager)(nil)
	_ io.WriterAt = (*Manager)(nil)
)

// Close syncs the dataset (unless ReadOnly), unmaps every chunk, and
// releases the directory lock. It never waits for pins or batches: chunks
// they hold stay mapped until they are released, and the arena is given
// back after the last one. If a Batch is open as Close ends (a Batch
// function that calls Close, say), Close still closes the Manager and
// returns an error matching ErrBusy, together with any other failure (a
// failed sync, say), which it never hides; one that ends while Close runs
// is not reported. Stores a Batch or pin makes through its bytes once Close has
// begun may come after Close's sync of their chunk: they are in the file
// (a crash of the process keeps them), but not synced: the first Sync
// after the next Open fsyncs every chunk, as after a crash, and so those
// made before it, but nothing syncs those made after it. Every later call
// returns ErrClosed, Close included. Close of a nil *Manager returns an
// error matching ErrClosed too, so that a deferred Close after a failed
// Open, which returns nil, does not crash; other methods of a nil
// *Manager panic, as for any nil pointer.
func (m *Manager) Close() error {
	if m == nil {
		return placed("close", "%w: nil *Manager (Open failed?)", ErrClosed)
	}
	m.resize.Lock()
	defer m.resize.Unlock()
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if !m.live.Load() {
		return m.errorf("close", whole, ErrClosed, "")
	}
	// Closed first, and every chunk out of lock-free use, so that no write
	// can slip in after the final Sync has looked: calls that start now
	// return ErrClosed, stores in flight finish before their slot is
	// emptied, and the dirty flags move to the list the Sync fsyncs.
	m.mu.Lock()
	m.beginShrink() // around live, as around a new Size (resize.go)
	m.live.Store(false)
	m.endShrink()
	var emptied []slotChunk
	if m.ar != nil && m.ar.Contiguous() {
		m.mu.unmapping = &emptied
	}
	for len(m.mu.live) > 0 {
		m.dropLocked(m.mu.live[len(m.mu.live)-1], false)
	}
	m.unmapCollectedLocked()
	for m.mu.pwrites > 0 {
		m.mu.idle.Wait() // each is one pwrite, already under way
	}
	m.mu.Unlock()
	var err error
	if !m.opts.ReadOnly {
		err = m.syncLocked()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil && !m.opts.ReadOnly && m.shared != nil && !m.writableHeldLocked() {
		// Everything is in the newest record: an Open needs no
		// recovery, and readers may trust the page after a restart.
		m.shared.markClean()
	}
	if m.mfile != nil {
		err = errors.Join(err, m.detachStateLocked())
	}
	m.mu.detached = true
	for idx := range m.mu.fds {
		m.dropFdLocked(idx)
	}
	for idx, f := range m.mu.scratch {
		err = errors.Join(err, f.Close())
		delete(m.mu.scratch, idx)
	}
	err = errors.Join(err, m.releaseArenaLocked(), m.mu.lock.unlock())
	if m.mu.unbind != nil {
		err = errors.Join(err, m.mu.unbind())
	}
	m.mu.lock, m.mu.unbind = nil, nil
	m.closedLocked()
	if n := m.batches.Load(); n > 0 {
		// After the sentinel's own words ("batches still open"): how many.
		// Joined to any other failure, which must not hide it: the
		// caller learns both that the data was not all synced and that
		// chunks stay mapped.
		what := "1; its chunks stay mapped until its function returns"
		if n > 1 {
			what = fmt.Sprintf("%d; their chunks stay mapped until their functions return", n)
		}
		if err == nil {
			return m.errorf("close", whole, ErrBusy, what)
		}
		err = errors.Join(err, fmt.Errorf("%w: %s", ErrBusy, what))
	}
	if err != nil {
		return m.wrapErr("close", whole, err)
	}
	return nil
}

// writableHeldLocked reports whether a pin or a Batch holds a chunk
// writable, in its slot or in a private view, or let go of one since Close
// began: its holder may store through the bytes after Close's sync, and
// those stores are in the file but synced by nobody, so Close leaves the
// page unclean and the next Open recovers, as after a crash: its first
// Sync fsyncs every chunk.
//
// REQUIRES: m.mu held, every live mapping dropped (Close).
func (m *Manager) writableHeldLocked() bool {
	for _, mp := range m.mu.doomed {
		if mp.s.wholds.Load() > 0 {
			return true
		}
	}
	for _, vh := range m.mu.views {
		if vh.write {
			return true
		}
	}
	// After the holds: a hold let go meanwhile set it before it left.
	return m.lateHolds.Load()
}

// Stats returns a snapshot of the Manager's counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.follows.Load() && m.live.Load() {
		m.followLocked() // counts the writer's chunks; an error changes nothing
	}
	return m.statsLocked()
}

// statsLocked is Stats without a follower's look at its writer.
//
// REQUIRES: m.mu held.
func (m *Manager) statsLocked() Stats {
	held := 0
	for _, mp := range m.mu.live {
		if mp.s.holds.Load() > 0 {
			held++
		}
	}
	views := 0
	for _, vh := range m.mu.views {
		views += int(vh.n)
	}
	return Stats{
		Chunks:    int(m.mu.nchunks),
		Mapped:    len(m.mu.live) + len(m.mu.doomed) + views,
		Pinned:    held + len(m.mu.doomed) + views,
		Hits:      m.hits.Load(),
		Misses:    m.misses.Load(),
		Maps:      m.maps.Load(),
		Unmaps:    m.unmaps.Load(),
		Evictions: m.evictions.Load(),
		Lowered:   m.lowered(),
		Refusals:  m.mu.refusals,
	}
}

// span is what a call acts on, as its errors name it: an offset and a
// length, either of which a call may lack. Every int64 is a possible
// argument, so their absence is a flag, not a value.
type span struct {
	off, n         int64
	hasOff, hasLen bool
}

// at is the span of n bytes at offset off.
func at(off, n int64) span { return span{off: off, n: n, hasOff: true, hasLen: true} }

// atOff is the span of a call with an offset and no length (DropBefore,
// Truncate).
func atOff(off int64) span { return span{off: off, hasOff: true} }

// ofLen is the span of a call with a length and no offset (Append, Gather,
// Scatter).
func ofLen(n int64) span { return span{n: n, hasLen: true} }

// whole is the span of a call on the whole dataset (Close, Sync, Refresh,
// Batch).
var whole span

// place names operation op on s, for the start of an error message:
// "read 4 bytes at offset 12", "drop at offset 12", "append 4 bytes", or op
// alone.
func place(op string, s span) string {
	if s.hasLen {
		unit := " bytes"
		if s.n == 1 {
			unit = " byte"
		}
		op += " " + strconv.FormatInt(s.n, 10) + unit
	}
	if s.hasOff {
		op += " at offset " + strconv.FormatInt(s.off, 10)
	}
	return op
}

// errorf builds the error of operation op on s, wrapping sentinel: "op n
// bytes at offset off in DIR: sentinel: detail", or "op DIR: sentinel:
// detail" for a call on the whole dataset.
func (m *Manager) errorf(op string, s span, sentinel error, detail string) error {
	if detail != "" {
		detail = ": " + detail
	}
	return placed(m.where(op, s, ""), "%w%s", sentinel, detail)
}

// wrapErr is errorf for an error err that caused operation op on s to
// fail: it marks err with the sentinel it lacks (classify), and names the
// directory only if err names no file in it. An error that names its
// operation and place already, or io.EOF, is returned as it is.
func (m *Manager) wrapErr(op string, s span, err error) error {
	if err == nil || err == io.EOF || isPlaced(err) {
		return err
	}
	err = classify(unpath(m.dir, err))
	return placed(m.where(op, s, err.Error()), "%w", err)
}

// where is place followed by the dataset's directory, "in DIR" (or "DIR"
// for a call on the whole dataset), unless msg names a file in it.
func (m *Manager) where(op string, s span, msg string) string {
	p := place(op, s)
	switch {
	case m.dir == "":
		return p // a zero Manager has no directory to name
	case s == whole:
		return p + " " + m.dir
	case strings.Contains(msg, m.dir+string(filepath.Separator)):
		return p
	}
	return p + " in " + m.dir
}
