package chunkmap

// This file holds the miss path of ReadAt and WriteAt: the decision whether
// a chunk that is not mapped is worth mapping, and the pread/pwrite path for
// one that is not.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"weak"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// fdEntry is an open chunk file used for pread and pwrite.
type fdEntry struct {
	f    *chunk.File
	idx  int64
	refs int  // calls using f now
	dead bool // dropped from the cache; closed when refs reaches 0
	// once is set for a file cached past the process's budget: it leaves
	// the cache when refs reaches 0. It stays cached meanwhile, so that a
	// deletion of its chunk marks it dead as it marks any other.
	once bool
}

// Admission decides whether a chunk that missed is worth mapping (see
// admitLocked); the locked paths of io.go ask it, and serve the chunks it
// turns away with pread and pwrite, which share the page cache with the
// mappings.
//
// Mapping a chunk costs tens of microseconds and unmapping the one it
// replaces up to a millisecond, so when the working set is larger than
// MaxMapped chunks, mapping on every miss makes each miss cost far more
// than a pread. With admission (the default; Options.NoAdmission turns it
// off) a chunk is therefore admitted only if it has missed, recently, more
// than twice as often (plus admitMargin) as the mapped chunk with the
// fewest recent uses has been used (or the chunk in its arena slot, which
// mapping it replaces); the counts
// halve as they grow (see ageLocked), so the choice follows a moving
// working set. A chunk is admitted and mapped under the same hold of mu:
// released in between, another miss would find the victim's place free and
// take it unchecked.

// fileIO reads or writes the part of p that lies in the chunk of off with
// pread or pwrite on the chunk's file, not through a mapping.
func (m *Manager) fileIO(p []byte, off int64, write bool) (int, error) {
	if err := m.lockChunk(p, off); err != nil {
		return 0, err
	}
	return m.fileIOLocked(p, off, write)
}

// lockChunk takes mu for an access to p at off and checks that the Manager
// is open and the chunk of off exists; on an error mu is not held.
func (m *Manager) lockChunk(p []byte, off int64) error {
	m.mu.Lock()
	if err := m.checkChunksLocked(off, int(min(int64(len(p)), m.chunkSize-off&m.mask))); err != nil {
		m.mu.Unlock()
		return err
	}
	return nil
}

// fileIOLocked is fileIO for a caller holding mu, which it releases.
func (m *Manager) fileIOLocked(p []byte, off int64, write bool) (int, error) {
	idx := off >> m.shift
	n := int(min(int64(len(p)), m.chunkSize-off&m.mask))
	// A file this call opens had its size checked as it was opened
	// (chunk.Open), or set as it was created (chunk.Create, the maker's
	// files among them): a write through it needs no check of its own.
	// Scratch files are cloned, unchecked.
	sized := m.mu.fds[idx] == nil && !m.opts.Scratch
	// A read checks its range under mu, and after the pread that no
	// shrink ran meanwhile: a growth after one may have zeroed the bytes
	// (see slots.go). (A write needs neither: it holds resize, so no
	// Truncate or DropBefore runs beside it.)
	if size := m.state().size.Load(); !write && off+int64(n) > size {
		m.mu.Unlock()
		return 0, pastEnd{fmt.Sprintf("past size %d", size)}
	}
	shrinks := m.shrinks.Load()
	e, err := m.fdLocked(idx)
	if err != nil {
		m.mu.Unlock()
		return 0, chunkError(err)
	}
	if write {
		m.mu.pwrites++
	}
	m.mu.Unlock()
	k, end, err := m.chunkFileIO(e, p[:n], off, write, sized)
	if errors.Is(err, syscall.EFAULT) && n > 0 {
		err = m.bufferRefused(p[:n], write)
	}
	m.mu.Lock()
	if write && k > 0 && m.markPwriteLocked(e, idx) {
		// The bytes written are allocated now; if they extend the
		// allocated prefix, stores through a mapping may use them
		// without a fallocate, up to allocAlign (see maxFolio). All
		// count towards the prefix of a sparse chunk (holesBeforeLocked).
		a := m.mu.alloc[idx]
		a.pwritten += (off+int64(k)+4095)&^4095 - off&^4095
		m.mu.alloc[idx] = a
		if o := off & m.mask; o <= a.end {
			to := o + int64(k)
			if to < m.chunkSize {
				to &^= m.allocAlign - 1
			}
			if to > a.end {
				m.noteAllocLocked(idx, to)
			}
		}
	}
	m.endFileIOLocked(e, write)
	if !write && m.shrinks.Load() != shrinks {
		k, err = 0, pastEnd{"truncated during the read"}
	}
	m.mu.Unlock()
	if err == io.EOF {
		// The chunk file is not ChunkSize long: another program changed
		// its size.
		how := "truncated"
		if end > m.chunkSize {
			how = "extended"
		}
		return k, fmt.Errorf("%w: chunk file %s is %d bytes, not %d (%s by another program)",
			ErrFault, e.f.Path(), end, m.chunkSize, how)
	}
	return k, err
}

// chunkFileIO is the part of fileIOLocked that runs without mu: p's pread
// or pwrite at offset off of chunk file e, whose file had its size checked
// as it was opened if sized. end is the file's size after an io.EOF.
//
// If the file system panics, the panic goes on, but first mu is taken
// again to put back what fileIOLocked raised for the call: the pwrite in
// flight, which Close waits for before its final Sync, and the
// descriptor's reference. Without that, a caller that recovers (as
// net/http does) would leave every later Close waiting for a pwrite that
// never ends.
// REQUIRES: mu not held.
func (m *Manager) chunkFileIO(e *fdEntry, p []byte, off int64, write, sized bool) (k int, end int64, err error) {
	done := false
	defer func() {
		if done {
			return
		}
		m.mu.Lock()
		if write {
			// The file system may have written part of p before it
			// panicked: the chunk is marked as after a write that
			// returned, so that the next Sync fsyncs what it did.
			m.markPwriteLocked(e, off>>m.shift)
		}
		m.endFileIOLocked(e, write)
		m.mu.Unlock()
	}()
	if write {
		// A pwrite past the end of a file that another program truncated
		// would grow it again, silently, to an odd size: refuse instead,
		// as a store through the mapping would fault. (The check is
		// not atomic with the write: it keeps the window that small.)
		var size int64
		if sized {
			k, err = e.f.WriteAt(p, off&m.mask)
		} else if size, err = e.f.Len(); err == nil && size != m.chunkSize {
			err, end = io.EOF, size
		} else if err == nil {
			k, err = e.f.WriteAt(p, off&m.mask)
		}
	} else {
		k, err = e.f.ReadAt(p, off&m.mask)
		if err == io.EOF {
			if size, serr := e.f.Len(); serr == nil {
				end = size
			}
		}
	}
	done = true
	return k, end, err
}

// markPwriteLocked marks chunk idx, which a pwrite through file e stored
// to, for the next Sync, and reports whether it did. Like a store through
// a mapping it is marked after the store, and only if the chunk still
// exists in the file written to: a Truncate or DropBefore that deleted it
// meanwhile (dropping the descriptor, even if the chunk was made anew
// since) let the pwrite land in the unlinked file, a write ordered before
// the deletion, which no Sync can (or need) fsync.
//
// REQUIRES: m.mu held.
func (m *Manager) markPwriteLocked(e *fdEntry, idx int64) bool {
	if e.dead || idx < m.mu.first || idx >= m.mu.first+m.mu.nchunks {
		return false
	}
	m.markFileDirtyLocked(idx, e.f.Info())
	return true
}

// endFileIOLocked puts back what fileIOLocked raised for a pread or pwrite
// (with write) through e once it has ended, returned or panicked: the
// pwrite in flight, which Close waits for, and the descriptor's reference.
//
// REQUIRES: m.mu held.
func (m *Manager) endFileIOLocked(e *fdEntry, write bool) {
	if write {
		if m.mu.pwrites--; m.mu.pwrites == 0 {
			m.mu.idle.Broadcast()
		}
	}
	m.releaseFdLocked(e)
}

// admitMargin is how many recent misses a chunk needs beyond twice its
// victim's recent uses before it replaces it. Under uniform random access
// the counts differ only by chance; with the margin, and with counts that
// halve only once they average agePer per chunk, chance almost never
// clears the bar, while a chunk that has become hot gains a count on each
// of its misses and clears it within a few hundred of them.
const admitMargin = 16

// agePer is how many counts per tracked chunk accumulate before every count
// halves. Counts that halve sooner stay small, and small counts are noisy:
// the least of many mapped chunks' counts then often falls below half of
// some missing chunk's, and a uniform workload remaps for nothing.
const agePer = 64

// maxFreq caps a chunk's count.
const maxFreq = 1<<16 - 1

// foldEvery sets how often admission scans the mapped chunks (see
// admitLocked): once per len(live)/foldEvery misses, so on every miss while
// fewer than foldEvery chunks are mapped. A scan reads a flag or two per
// mapped chunk, a few nanoseconds each once there are hundreds, against a
// pread of about a microsecond.
const foldEvery = 32

// admitLocked counts a miss on chunk idx and reports whether to map it.
// When it says yes and MaxMapped chunks are mapped (or the Managers of the
// process hold their budget of mappings, overMapBudget), it has already
// evicted the victim: the unpinned mapped chunk with the fewest recent
// uses, not the least recently used one, whose one use since the last fold
// may be all the use it has. Where idx's arena slot holds another chunk, that chunk, which
// mapping idx replaces, is the victim, at any bound; where the slot cannot
// take idx now (held by another chunk, doomed or lost), it says no.
//
// A large access (large: a read of bulkWrite bytes or more in the chunk)
// never displaces a mapped chunk: it maps idx only where there is room.
// Its pread costs little more than a copy out of a mapping (a system call
// beside 64 KiB or more of copying), while a mapping displaced for it costs
// a remap, and the faults of every page through the new mapping, which on
// a scan of more than the mapped window are paid again at every pass (a
// scan in 1 MiB reads of 16 chunks of 64 MiB, 4 mapped, took twice as long
// as os.File's reads, remapping 12 chunks a pass). Small accesses are
// where a mapping pays: they decide, by their misses, what is mapped.
//
// Finding the victim and folding the mapped chunks' uses into their counts
// both scan every mapped chunk, so with many mapped they run once per
// len(live)/foldEvery misses, and the fold credits a chunk used in that
// span with all of its misses, and at least two (see foldUsedLocked): more
// than it may deserve, which favours the mapped chunks a little, and never
// less, which would make a uniform workload remap.
func (m *Manager) admitLocked(idx int64, large bool) bool {
	if m.opts.NoAdmission {
		return true
	}
	freq := m.mu.freq[idx]
	m.countLocked(&freq, 1)
	m.mu.freq[idx] = freq
	m.ageLocked()
	s := m.slot(idx)
	if s.doomed.Load() || m.ar.Lost(m.slotNum(idx)) {
		// lookupLocked maps nothing there (see slots.go): a victim
		// evicted for it would be mapped again at its next miss, for
		// nothing.
		return false
	}
	if own := s.own.Load(); own != 0 {
		// Another chunk lives in the slot, and mapping this one
		// replaces it (lookupLocked), whatever the bound: that chunk is
		// the one to outdo, and evicting a victim besides would leave a
		// place empty. Where two chunks that share a slot were read in
		// turn, each miss evicted a victim and the occupant, and then
		// the two remapped at every read. A held occupant stays, and
		// the chunk is served without a mapping.
		occ := m.mappingLocked(own - 1)
		if occ == nil || s.holds.Load() > 0 || large {
			return false
		}
		if m.mu.unfolded++; m.mu.unfolded > len(m.mu.live)/foldEvery {
			m.foldUsedLocked()
		}
		return int(m.mu.freq[idx]) >= 2*int(occ.freq)+admitMargin
	}
	// Where the Managers of the process hold their budget of mappings,
	// this one is at its bound too: mapForIOLocked would evict its oldest
	// chunk for any miss let through, and a uniform workload remapped at
	// every miss. (With none of its own mapped it has nothing to compare,
	// and the miss goes to pread there.)
	if len(m.mu.live) < m.mu.mapBound && (len(m.mu.live) == 0 || !overMapBudget()) {
		return true
	}
	if large {
		return false
	}
	m.mu.unfolded++
	v := m.mu.victim
	if m.mu.unfolded > len(m.mu.live)/foldEvery || v == nil || v.live < 0 || v.s.holds.Load() > 0 {
		m.foldUsedLocked()
		v = nil
		least := maxFreq + 1
		for _, mp := range m.mu.live {
			if f := int(mp.freq); f < least && mp.s.holds.Load() == 0 {
				v, least = mp, f
			}
		}
		m.mu.victim = v
	}
	if v == nil || int(m.mu.freq[idx]) < 2*int(v.freq)+admitMargin {
		return false // a pread is cheaper than a remap; or all is pinned
	}
	m.mu.victim = nil
	return m.evictOneLocked(v)
}

// countLocked adds n misses or uses to the count *c. The counts of unmapped
// chunks live in mu.freq, those of mapped ones in their mapping, where the
// search for a victim reads them without a map lookup.
func (m *Manager) countLocked(c *uint16, n int) {
	*c = uint16(min(int(*c)+n, maxFreq))
	m.mu.ticks += n
}

// ageLocked halves every count once they have grown to average agePer per
// tracked chunk, so that the counts follow a working set that moves.
func (m *Manager) ageLocked() {
	if m.mu.ticks < agePer*(len(m.mu.freq)+len(m.mu.live)+1) {
		return
	}
	m.mu.ticks = 0
	for k, v := range m.mu.freq {
		if v < 2 {
			delete(m.mu.freq, k)
		} else {
			m.mu.freq[k] = v / 2
		}
	}
	for _, mp := range m.mu.live {
		mp.freq /= 2
	}
}

// forgetBelowLocked deletes the counts of the chunks below first, for a
// following reader whose writer dropped them: Start moves up to first. The
// writer forgets the counts of the chunks it deletes (retireChunksLocked),
// but a reader learns of them only from the new Start, and without this it
// would keep a count for every chunk a log it follows ever had (ageLocked
// deletes counts only once they average agePer per chunk, which a log read
// a few times per chunk never reaches). It looks at the chunks dropped or
// at the counts, whichever are fewer.
//
// REQUIRES: m.mu held; mappings of the chunks dropped already let go.
func (m *Manager) forgetBelowLocked(first int64) {
	from := m.mu.first
	if first <= from {
		return
	}
	if first-from > int64(len(m.mu.freq)) {
		for idx := range m.mu.freq {
			if idx < first {
				delete(m.mu.freq, idx)
			}
		}
		return
	}
	for idx := from; idx < first; idx++ {
		delete(m.mu.freq, idx)
	}
}

// foldUsedLocked moves the chunks used since the last fold to the front of
// the LRU and, with Admission, credits each with the misses since the last
// fold (at least two). The hot paths record use in a flag because touching
// the LRU would need the lock; the order of the uses between two folds is
// not known, so chunks used in the same interval reach the front in no
// particular order.
func (m *Manager) foldUsedLocked() {
	// At most one scan interval's worth: after a long stretch without a
	// fold, a large credit would make the mapped chunks' counts so big that
	// no chunk could replace them until many halvings later.
	//
	// At least two, because a flag says only that a chunk was used, not
	// how often, and the shortest intervals (a fold on every miss, while
	// fewer than foldEvery chunks are mapped) end at a miss: a chunk that
	// missed is in every interval its misses end, while a mapped chunk's
	// uses fall in some and not in others. Under uniform reads over m
	// more chunks than are mapped, a mapped chunk is used in 1/(m+1) of
	// the intervals and missed chunks miss in 1/m of them each, so with a
	// credit of one the one chunk that does not fit (m = 1) counted twice
	// its victim's uses, the bar admission sets, and remapped every few
	// hundred misses. A used chunk was used (m+1)/m times on average in
	// such an interval, at most twice: a credit of two never counts less.
	credit := max(2, min(m.mu.unfolded, 1+len(m.mu.live)/foldEvery))
	m.mu.unfolded = 0
	for _, mp := range m.mu.live {
		if mp.s.used.Load() {
			mp.s.used.Store(false)
			m.mu.lru.Get(mp.index)
			if !m.opts.NoAdmission {
				m.countLocked(&mp.freq, credit)
			}
			m.hits.Add(1)
		}
	}
	m.ageLocked()
}

// The share of the process's budget of cached files (fileBudgetInProcess)
// that a Manager's cache may hold lies between these (see cacheShare).
// Reopening a file costs an open, two fstats and a close: a miss that
// reopens its chunk's file took about five times one served from the cache
// (random 8-byte reads over 4,096 chunks of 64 KiB, 1,024 of them mapped),
// so the cache is best when it holds every chunk a Manager reaches but does
// not map. Each open file holds some kernel memory (the file, and its
// inode and name kept in the system's caches), so a Manager keeps no more
// than maxCacheShare, 4 GiB of 64 KiB chunks, even where the descriptor
// limit would allow more (Windows has none).
const (
	minCacheShare = 1024
	maxCacheShare = 1 << 16
)

// fdLocked returns the cached open file of chunk idx, opening it if need
// be, with a reference the caller gives back with releaseFdLocked.
func (m *Manager) fdLocked(idx int64) (*fdEntry, error) {
	if e := m.mu.fds[idx]; e != nil {
		e.refs++
		if m.mu.fdHits++; m.mu.fdHits%fdRecheck == 0 {
			m.fdRoomLocked(0)
		}
		return e, nil
	}
	// With no room in the process's budget and no idle file of its own to
	// close, the Manager keeps this one only while calls use it
	// (fdEntry.once).
	keep := m.fdRoomLocked(1)
	mode := chunk.ReadWrite
	if m.opts.ReadOnly {
		mode = chunk.ReadOnly
	}
	f, err := m.openChunkLocked(idx, mode, true)
	if err != nil {
		return nil, err
	}
	m.adviseFile(f, false)
	e := &fdEntry{f: f, idx: idx, refs: 1, once: !keep}
	m.cacheFdLocked(idx, e)
	return e, nil
}

// adviseFile gives f, a chunk file just opened or created (created true),
// the dataset's Advice as a hint for the preads and pwrites through it:
// every file the descriptor cache may hold gets it where it is opened or
// created, those that mappings open and those that growth keeps open
// included. A file just created holds nothing to read in, so it gets no
// AdviceWillNeed (which read the whole new chunk's holes into the page
// cache as zeros). A hint: a failure changes nothing else.
func (m *Manager) adviseFile(f *chunk.File, created bool) {
	if m.opts.Advice != AdviceNormal && !(created && m.opts.Advice == AdviceWillNeed) {
		f.Fadvise(0, 0, m.opts.Advice.chunk())
	}
}

// fdRecheck is how many of a Manager's uses of cached files pass between
// two looks at the descriptor limit (fdRoomLocked), which a program may
// lower while Managers are open: often enough that a cache shrinks soon
// after, rarely enough that the system call is lost among the preads.
const fdRecheck = 1024

// fileBudgets returns the most files a Manager's cache holds (own: its
// share of the process's budget, cacheShare) and the most the caches of
// every Manager hold between them (process), from the descriptor limit as
// it is now. The open Managers' own descriptors past
// their share (fileMapBudget, the same quarter of the limit) come out of
// the caches': with many Managers open, what they hold of their own alone
// would otherwise leave the program less than half the limit, and their
// calls would be refused descriptors at every burst. Where scratch chunks
// leave less, the caches get what filesRoom allows. (A file not kept is
// opened for each use instead.) A budget a test sets is taken as it is.
func fileBudgets() (own, process int64) {
	process = fileBudgetInProcess()
	if testFileBudget.Load() == 0 {
		quarter := process
		if over := managerFiles.Load() - quarter; over > 0 {
			process = max(0, process-over)
		}
		process = min(process, filesRoom(quarter))
	}
	return cacheShare(process, arenasHeld.Load()), process
}

// cacheShare is a Manager's share of process, the files the caches of
// managers Managers hold between them: an equal part, but at least
// minCacheShare, and no more than process or maxCacheShare. A Manager
// alone in the process may then keep a file open for every chunk it does
// not map, up to a quarter of the descriptor limit; where several share
// it, none can crowd the others out of more than their part (a Manager at
// the process's budget closes only files of its own to cache another, and
// without one to close opens its file for each use), save where parts
// would fall below minCacheShare, which each may then hold.
//
// Where the system sets no descriptor limit (process is math.MaxInt64:
// Windows), there is no budget to share, and each Manager keeps
// minCacheShare: on Windows a file open in one process may keep another
// from deleting it.
func cacheShare(process, managers int64) int64 {
	if process == math.MaxInt64 {
		return minCacheShare
	}
	return min(process, maxCacheShare, max(minCacheShare, process/max(1, managers)))
}

// filesRoom is the most descriptors the shares of mapped chunks and of
// cached files may each hold beside the Managers' own and their scratch
// chunks' (scratchFiles), for a quarter of the limit of quarter: half of
// what those leave of seven eighths of the limit, so that the Managers
// together keep the rest of the program an eighth, as reserveScratchFile
// promises. Only scratch chunks make it the lower bound: without them, the
// Managers' own past a quarter already shrink the shares further.
func filesRoom(quarter int64) int64 {
	if quarter > math.MaxInt64/8 {
		return math.MaxInt64 // no limit of descriptors here
	}
	return max(0, (7*quarter/2-managerFiles.Load()-scratchFiles.Load())/2)
}

// fdRoomLocked closes idle cached files until room more fit within the
// Manager's budget and the process's (fileBudgets), and reports whether
// they fit the process's. (A Manager whose files are all in use may stay
// past its own budget: the process's is the one that protects the rest of
// the program.)
//
// REQUIRES: m.mu held.
func (m *Manager) fdRoomLocked(room int) bool {
	own, process := fileBudgets()
	return m.fitFdsLocked(own, process, room)
}

// fitFdsLocked is fdRoomLocked with the budgets, own and process, given.
//
// REQUIRES: m.mu held.
func (m *Manager) fitFdsLocked(own, process int64, room int) bool {
	// In one pass each: a pass starts a walk of the cache, up to a
	// Manager's share long.
	if over := int64(len(m.mu.fds)+room) - own; over > 0 {
		m.dropIdleFdsLocked(int(over))
	}
	if over := filesInProcess.Load() + int64(room) - process; over > 0 {
		m.dropIdleFdsLocked(int(over))
	}
	return filesInProcess.Load()+int64(room) <= process
}

// trimOthersFds closes, in every open Manager of the process but m whose
// lock is free at that moment, the idle cached files past its share of the
// caches' budget (fileBudgets), which m's Open has just made smaller: a
// Manager that cached files while it was alone would otherwise keep them
// until its next use of its cache, however long it stays idle, and the new
// one, finding the process's budget full, would open a file for each use.
// (A Manager whose lock is busy is in use, and trims itself as it caches.)
// It waits for no lock, and looks at no Manager where the caches hold no
// more files between them than one share: none can be past its own then.
func trimOthersFds(m *Manager) {
	own, process := fileBudgets()
	if filesInProcess.Load() <= own {
		return
	}
	managers.Lock()
	others := make([]*Manager, 0, len(managers.set))
	for p := range managers.set {
		if o := p.Value(); o != nil && o != m {
			others = append(others, o)
		}
	}
	managers.Unlock()
	for _, o := range others {
		if !o.mu.TryLock() {
			continue
		}
		if o.live.Load() {
			o.fitFdsLocked(own, process, 0)
		}
		o.mu.Unlock()
	}
}

// filesInProcess counts the files the descriptor caches of every Manager
// in the process hold, against fileBudgetInProcess.
var filesInProcess atomic.Int64

// fileBudgetInProcess returns the most files the Managers' descriptor
// caches hold between them (processFileBudget; or set by a test,
// testFileBudget, when not 0): a Manager at it closes one of its own before
// it caches another, so that many Managers together do not take the
// descriptors the rest of the program needs.
//
// The limit is read at each call, a cheap one made only when a file is
// about to be cached: a program may lower it while Managers are open.
func fileBudgetInProcess() int64 {
	if b := testFileBudget.Load(); b != 0 {
		return b
	}
	b := processFileBudget()
	fileMapBudget.Store(b)
	return b
}

// testFileBudget, when not 0, is fileBudgetInProcess: tests set it.
var testFileBudget atomic.Int64

// cacheFdLocked puts e, chunk idx's open file, in the descriptor cache.
//
// REQUIRES: m.mu held; idx not in the cache.
func (m *Manager) cacheFdLocked(idx int64, e *fdEntry) {
	m.mu.fds[idx] = e
	m.cached.Add(1)
	filesInProcess.Add(1)
}

// takeFdLocked takes chunk idx's file out of the cache for a mapping, which
// keeps its file open, and returns it; nil if the cache has none that no
// call is using. It spares mapLocked all but a stat of an open by name (an
// open, two fstats and a close) for a chunk evicted and mapped again
// (keepFdLocked), or read by pread first.
//
// Every path of the Manager that deletes or replaces a chunk file, and a
// follower's every move to a state that cut or replaced one, drops the
// cached files of those chunks as it drops their mappings. Another program
// may have replaced the file under its name all the same: a mapping maps
// the file under the name, as an open would (later stores go where a
// reopen finds them), so a cached file that is no longer there, or no
// longer ChunkSize long, is closed and the chunk opened by name. (A
// scratch chunk has no name to check.)
//
// REQUIRES: m.mu held.
func (m *Manager) takeFdLocked(idx int64) *chunk.File {
	e := m.mu.fds[idx]
	if e == nil || e.refs > 0 {
		return nil
	}
	if !m.opts.Scratch {
		// The stat stands for chunk.Open's, size check included: a file
		// another program truncated or extended in place is still the
		// same file, but mapped it would fault past its end (a Pin would
		// hand out bytes that raise SIGBUS) or be used as if whole, where
		// an open by name reports ErrFault (chunkError). Such a file is
		// closed and the chunk opened by name, which says so.
		if fi, err := chunk.SameFile(m.fsys, e.f.Path(), e.f.Info()); err != nil || fi.Size() != m.chunkSize {
			m.dropFdLocked(idx)
			return nil
		}
	}
	delete(m.mu.fds, idx)
	m.cached.Add(-1)
	filesInProcess.Add(-1)
	return e.f
}

// dropIdleFdsLocked closes up to n cached files that no call is using (all
// of them for n < 0), and reports whether it closed any.
//
// REQUIRES: m.mu held.
func (m *Manager) dropIdleFdsLocked(n int) bool {
	dropped := false
	// Which idle files go matters little: with the cache as large as a
	// Manager's share, most of a dataset it does not map, a file is
	// about as likely to be used next as any other.
	for k, e := range m.mu.fds {
		if n == 0 {
			break
		}
		if e.refs == 0 {
			m.dropFdLocked(k)
			dropped = true
			n--
		}
	}
	return dropped
}

// openChunkLocked is openFollowed, given back descriptors if refused (see
// withFilesLocked).
//
// REQUIRES: m.mu held.
func (m *Manager) openChunkLocked(idx int64, mode chunk.Mode, mappings bool) (f *chunk.File, err error) {
	err = m.withFilesLocked(mappings, func() error {
		f, err = m.openFollowed(idx, mode)
		return err
	})
	return f, err
}

// withFilesLocked runs open, a call that opens a file, and where the system
// refuses it for want of descriptors (EMFILE, ENFILE) gives back what the
// Manager can and runs it again: the refusal may be of the Manager's own
// making, and should not outlast it. It closes the idle cached files
// first, and the files a growth's maker keeps open for a bulk write, its
// own and those of the process's other Managers (giveBackFilesLocked);
// with mappings, if that was not enough, it also unmaps the chunks
// nobody holds (each keeps its file open) and closes their files,
// lowering MaxMapped as a refused mapping does (relieveLocked), and a
// refusal that remains says what to raise. Mapping a chunk passes mappings
// false: lookupLocked does that part itself (refusedLocked). Every path
// that opens a chunk file goes through it or through withFiles.
//
// open runs again after the idle files are closed even if this call found
// none to close: calls that open files side by side (Sync fsyncs its
// chunks so) are all refused at once, and the first to close the cached
// files makes the room the others need.
//
// REQUIRES: m.mu held.
func (m *Manager) withFilesLocked(mappings bool, open func() error) error {
	err := open()
	if err == nil || !filesRefused(err) {
		return err
	}
	m.giveBackFilesLocked()
	if err = open(); err == nil || !filesRefused(err) {
		return err
	}
	if !mappings {
		return err
	}
	m.relieveLocked(err)
	if err = open(); err != nil && filesRefused(err) {
		err = m.refusalError(err)
	}
	return err
}

// withFiles is withFilesLocked for callers that do not hold mu (Sync's
// opens of chunk files and of the directory): closing the idle cached
// files may free nothing where every descriptor the Manager holds is a
// mapped chunk's, and then only unmapping them (mappings) frees one. Opens
// made side by side pass mappings false: they may be refused only by one
// another, and unmapping chunks and lowering MaxMapped would pay for a
// shortage that ends as they do; the caller retries them one at a
// time with mappings. The first try runs without mu; a try after a
// refusal runs under it, so that what was given back is not taken by the
// Manager's other calls first.
func (m *Manager) withFiles(mappings bool, open func() error) error {
	err := open()
	if err == nil || !filesRefused(err) {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.withFilesLocked(mappings, open)
}

func (m *Manager) releaseFdLocked(e *fdEntry) {
	if e.refs--; e.refs == 0 && e.dead {
		e.f.Close()
		if m.mu.fdsInUse[e.idx]--; m.mu.fdsInUse[e.idx] == 0 {
			delete(m.mu.fdsInUse, e.idx)
			if unmapBeforeRemove {
				m.removeLaterLocked() // its chunk's file may wait for it
			}
		}
	} else if e.refs == 0 && e.once {
		m.dropFdLocked(e.idx)
	}
}

// dropFdLocked removes chunk idx's file from the cache, closing it once no
// call uses it.
func (m *Manager) dropFdLocked(idx int64) {
	e := m.mu.fds[idx]
	if e == nil {
		return
	}
	delete(m.mu.fds, idx)
	m.cached.Add(-1)
	filesInProcess.Add(-1)
	e.dead = true
	if e.refs == 0 {
		e.f.Close()
	} else {
		m.mu.fdsInUse[idx]++
	}
}

// chunkError marks an error from opening or mapping a chunk that existed
// when the dataset was opened or grown: a file now missing or of another
// size was changed by someone else, which is a fault; anything else (too
// many open files, say) is marked as classify marks it. The error names the
// chunk file (chunk's errors do) but not the operation or offset: the
// caller's does (wrapErr).
func chunkError(err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe):
		// The Manager deletes no chunk file of [Start, Size) but by a
		// Truncate or DropBefore, after which nothing looks for it: say
		// what happened, rather than "open: no such file".
		return fmt.Errorf("%w: chunk file %s is missing: another program removed it (%w)", ErrFault, pe.Path, pe.Err)
	case errors.Is(err, chunk.ErrSize) || errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrFault, err)
	}
	return classify(err)
}

// managers lists the open Managers of the process, so that one refused a
// descriptor can take back the idle files of the others' caches
// (giveBackFilesLocked): the caches share one budget, and a Manager that
// filled it and went idle would otherwise keep every other Manager of the
// process short of descriptors. The pointers are weak: a Manager dropped
// without Close is still collected (and its entry then dropped here).
var managers struct {
	sync.Mutex
	set map[weak.Pointer[Manager]]struct{}
}

// ownFilesOf is how many descriptors a Manager opened with o holds of its
// own: the directory's two handles, the manifest, and for a writer the
// lock; a scratch Manager the two handles (its chunks' are counted apart,
// in scratchFiles). (A reader of a version 1 manifest holds the manifest
// open only once Refresh has read it; it counts it from the start. On
// Windows a directory is used by path, and its handles are counted all the
// same.)
func ownFilesOf(o Options) int64 {
	switch {
	case o.Scratch:
		return 2
	case o.ReadOnly:
		return 3
	}
	return 4
}

// roomForFiles refuses a new Manager where the open Managers would then
// hold more than three quarters of the process's descriptor limit of
// their own, as roomForArena refuses one past three quarters of its
// mappings: those never give way, while the chunks' and the caches'
// shares shrink as they grow (mapsOverBudget, fileBudgets), so the
// Managers past that point leave the program, and their own calls, a
// quarter of the limit or less, and every burst would be refused
// descriptors. The error matches syscall.EMFILE, as the system's refusal
// would. What it lets in it counts at once, so that Opens at the same
// moment cannot all pass: the caller gives back reserved as Open returns
// (opened has counted the Manager by then, if it opened). The descriptors
// of scratch chunks (scratchFiles) count among the Managers' here.
func roomForFiles(o Options) (reserved int64, err error) {
	quarter := processFileBudget()
	own := ownFilesOf(o)
	if quarter > math.MaxInt64/8 || own == 0 {
		return 0, nil // no limit of descriptors here, or none to take
	}
	held := managerFiles.Add(own) + scratchFiles.Load()
	if held <= 3*quarter {
		return own, nil
	}
	managerFiles.Add(-own)
	return 0, filesRefusal(held, quarter, "three quarters", "close Managers, or raise the limit: ulimit -n")
}

// filesRefusal is the refusal of roomForFiles and reserveScratchFile: the
// Managers would hold held descriptors of their own, more than share of
// the limit (four times quarter); what says what to do.
func filesRefusal(held, quarter int64, share, what string) error {
	return &roomRefusal{fmt.Errorf("the Managers of the process would hold %d of the about %d descriptors its limit allows of their own, more than %s: %w (%s)", held, 4*quarter, share, syscall.EMFILE, what)}
}

// scratchFiles counts the descriptors the scratch datasets of the process
// hold for their chunks: a nameless file lives only through one, so each
// is held from the chunk's creation to its removal and cannot be given
// back. They are not counted among the Managers' own (managerFiles), whose
// share is a quarter of the limit: a scratch dataset of more chunks than
// that would leave every Manager nothing to map or cache. They lower the
// shares of mapped chunks and cached files only where, with the Managers'
// own, they leave less than two quarters of seven eighths of the limit
// (filesRoom).
var scratchFiles atomic.Int64

// reserveScratchFile counts the descriptor of a new scratch chunk in
// scratchFiles (and in own, the Manager's count), or refuses it where the
// Managers of the process would then hold more than seven eighths of the
// descriptor limit of their own, so that the rest of the program keeps an
// eighth. That is past the three quarters where Open refuses a Manager, so
// that a scratch dataset the size of most of the limit still fits.
func reserveScratchFile(own *atomic.Int64) error {
	quarter := processFileBudget()
	held := scratchFiles.Add(1) + managerFiles.Load()
	if quarter > math.MaxInt64/8 || 2*held <= 7*quarter {
		own.Add(1)
		return nil
	}
	scratchFiles.Add(-1)
	return filesRefusal(held, quarter, "seven eighths", "a scratch dataset keeps a descriptor for each of its chunks: shrink it, close Managers, or raise the limit: ulimit -n")
}

// unreserveScratchFile undoes reserveScratchFile, once the chunk's
// descriptor is closed.
func unreserveScratchFile(own *atomic.Int64) {
	own.Add(-1)
	scratchFiles.Add(-1)
}

// opened counts own, the descriptors the new Manager holds of its own,
// against the process's share (managerFiles), and lists the Manager among
// the open ones. Open calls it last, once nothing can fail.
func (m *Manager) opened(own int64) {
	m.ownFiles = new(atomic.Int64)
	m.ownFiles.Store(own)
	m.scratchFiles = new(atomic.Int64)
	managerFiles.Add(own)
	p := weak.Make(m)
	// A Manager dropped without Close has its files closed by the runtime
	// once it is unreachable (each *os.File's own cleanup), and leaves
	// the count and the list then, as its cached files leave theirs
	// (newManager).
	runtime.AddCleanup(m, func(d droppedManager) {
		managerFiles.Add(-d.own.Swap(0))
		scratchFiles.Add(-d.scratch.Swap(0))
		managers.Lock()
		delete(managers.set, d.p)
		managers.Unlock()
	}, droppedManager{m.ownFiles, m.scratchFiles, p})
	managers.Lock()
	if managers.set == nil {
		managers.set = make(map[weak.Pointer[Manager]]struct{})
	}
	managers.set[p] = struct{}{}
	managers.Unlock()
	trimOthersFds(m)
}

// droppedManager is what the cleanup of a Manager dropped without Close
// needs of it: its counts of its own descriptors, and its entry in the
// list.
type droppedManager struct {
	own, scratch *atomic.Int64
	p            weak.Pointer[Manager]
}

// closedLocked undoes opened, once Close has closed the Manager's own
// descriptors.
//
// REQUIRES: m.mu held.
func (m *Manager) closedLocked() {
	if m.ownFiles != nil {
		managerFiles.Add(-m.ownFiles.Swap(0))
		scratchFiles.Add(-m.scratchFiles.Swap(0))
	}
	managers.Lock()
	defer managers.Unlock()
	delete(managers.set, weak.Make(m))
}

// giveBackFilesLocked is what a Manager refused a descriptor gives back
// before it tries again: its idle cached files, those a growth's maker
// keeps open (closeAheadLocked), and then the same of every other open
// Manager of the process whose lock is free at that moment. It waits for
// no other Manager's lock: one that is busy keeps its files, and a lock
// held by this Manager's own caller up the stack (a call from another
// Manager's Batch, say) cannot deadlock it. Each file given back is opened
// again by name when it is next needed.
//
// REQUIRES: m.mu held.
func (m *Manager) giveBackFilesLocked() {
	m.dropIdleFdsLocked(-1)
	m.closeAheadLocked()
	giveBackOthersFiles(m)
}

// giveBackOthersFiles closes the idle cached files, and the files a
// growth's maker keeps open, of every open Manager of the process but
// except (nil for none) whose lock is free at that moment, and reports
// whether it closed any. It waits for no Manager's lock (see
// giveBackFilesLocked).
//
// REQUIRES: except.mu held, if except is not nil.
func giveBackOthersFiles(except *Manager) bool {
	managers.Lock()
	others := make([]*Manager, 0, len(managers.set))
	for p := range managers.set {
		switch o := p.Value(); {
		case o == nil:
			delete(managers.set, p)
		case o != except:
			others = append(others, o)
		}
	}
	managers.Unlock()
	closed := false
	for _, o := range others {
		if !o.mu.TryLock() {
			continue
		}
		if o.live.Load() {
			closed = o.dropIdleFdsLocked(-1) || closed
			closed = o.closeAheadLocked() || closed
		}
		o.mu.Unlock()
	}
	return closed
}
