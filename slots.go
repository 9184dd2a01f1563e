package chunkmap

// This file holds the arena: one range of address space, reserved at Open,
// in which chunk i can be mapped only at slot i mod len(slots); and the life
// of a slot.
//
// A slot's states. own is the slot's own word, gen counts the chunks ever
// mapped there, holds counts the pins and batches that hold it, and wd
// counts the lock-free stores in flight (with the dirty flag in its top
// bit):
//
//	state    own       mapped  moved on by
//	empty    0         no      mapLocked: to live
//	live     index+1   yes     evictOneLocked (holds 0, writers drained): to empty
//	                           dropLocked (chunk deleted or dropped below
//	                           Start, or Close): to doomed if held, else to
//	                           empty
//	doomed   0         yes     the last release (unholdSlot): to empty
//
// Only mu holders change a slot's state. Lock-free accessors use a slot as
// follows, and this is why no stale address can reach another chunk's
// bytes:
//
//   - A reader loads gen and own, then the bytes, then own and gen again,
//     and uses the bytes only if it saw its chunk both times and gen did not
//     move. A slot that was emptied in between faults (an empty slot is an
//     inaccessible reservation) and the guard turns the fault into a retry;
//     a slot given to another chunk in between fails the second check, also
//     when its own chunk came back in the meantime (own went A, B, A), because
//     every mapping advances gen before it publishes own. (Where the arena
//     is not contiguous, an emptied slot's range is unmapped and the system
//     may reuse it: a reader may then load another owner's bytes, or fault,
//     and its second check discards what it read.)
//   - A writer enters wd (adds one), then checks own, stores, and leaves wd.
//     The Manager clears own, then waits for wd's count to reach zero, and
//     only then unmaps the slot or maps another chunk there. Go's atomics
//     are sequentially consistent, so either the writer sees own cleared (and
//     takes the locked path), or the Manager sees the writer and waits for
//     its one store to finish: a store lands in the chunk it checked, or
//     nowhere. The wait is for the library's own stores, each a few
//     instructions long; it involves no user code. Leaving returns wd's new
//     value, and with it the dirty flag as it was at that instant, when the
//     slot still held the writer's chunk (see sync.go).
//   - A holder (Pin, Batch) adds itself to holds, then checks own. The
//     Manager clears own, then reads holds, and puts own back if it is not
//     zero: a held slot is never emptied or given to another chunk. A chunk
//     deleted while held stays mapped, doomed, until its last holder leaves.
//
// The range check comes again after the slot's. A check of [off, off+n)
// against Size made before the slot was looked at may be stale by then: a
// Truncate may have deleted the chunk and another created it anew, with
// Size now short of off+n, and the slot may hold the new file. An access
// there would read bytes past Size, or store them past every byte a later
// growth zeroes, to appear when Size reaches them. So every access loads
// Size once more after it has checked (reader), entered (writer) or held
// (holder) the slot, and takes the locked path if Size no longer covers
// it; the locked paths check Size under mu, and callers under resize need
// no check, as no Truncate runs beside them. A Size that covers the access
// at that moment makes it an access after every shrink before it. A shrink
// after it either deletes the chunk (the store went to the old file, and
// orders before the shrink) or keeps it: then Truncate waits for the
// stores in flight on the chunks it keeps past the new Size (drainWriters)
// before it returns, so each lands below the high-water mark before any
// growth zeroes from there. A reader cannot be waited for that way (it
// announces nothing), and a Truncate that keeps its chunk changes neither
// own nor gen: a read that checked Size before the Truncate and copies
// after the growth that followed it would return the zeros the growth
// wrote over the bytes cut off, before it wrote them anew, which the
// dataset never held. So a reader also loads the Manager's shrink epoch
// (shrinks, which every Truncate, DropBefore and Close moves before and
// after its new Size, so before any growth after it) before it checks Size
// and again after the copy, and discards the copy if it moved; a pread
// checks Size under mu and the epoch after. (A following reader's writer
// is another Manager: its reads check the writer's epoch in the state
// page the same way, see followedRead.) Bytes a pin or a Batch holds are
// plain memory: stores through them after a Truncate past the new Size
// are the caller's, and loads from them may see what a growth after it
// writes, zeros included (see Manager.Truncate).
//
// No access depends on the name of a function, the scheduling of a
// goroutine or the number of goroutines in the process: eviction reads two
// counters of one slot.
//
// A chunk whose slot is held by another chunk (two chunks len(slots) apart,
// one held; or a chunk deleted while held and created again) cannot be
// mapped in the arena until that hold ends: ReadAt and WriteAt serve it with
// pread and pwrite, and Pin and Batch map it in a private view (pin.go).
// So is a chunk whose slot is lost (arena.ErrSlotLost: emptied over the
// system's limit of mappings, and its range perhaps taken by another
// mapping), for the Manager's life; a lost slot's own word stays 0, so no
// lock-free access and no range across slots uses it.
//
// The system's own bound on mappings is kept in three ways: the Managers
// of a process keep at most mapBudget chunks mapped between them (each
// Manager counting as one), Open refuses a Manager that would take them
// past three quarters of the system's mappings (roomForArena; both in
// mapbudget.go), and a refused mapping lowers the Manager's bound
// (refusedLocked) until the system has room again (recoverLocked; both in
// relieve.go).

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	mmap "github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap/internal/arena"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// slot is the state of one place in the arena that lock-free accessors
// share. Its fields are atomics; only mu holders store to own, base and
// doomed.
//
// A slot holds no pointer, so the garbage collector never scans the table;
// the slot's address comes from Manager.slotAddr.
type slot struct {
	own    atomic.Int64  // 1 + the index of the chunk open to lock-free access here; 0 if none
	gen    atomic.Uint64 // advanced by every mapping, before own is published
	wd     atomic.Uint32 // lock-free stores in flight, and dirtyBit
	holds  atomic.Int32  // pins and batches holding the slot
	wholds atomic.Int32  // those of them that may store
	used   atomic.Bool   // accessed since the last eviction scan
	doomed atomic.Bool   // the chunk was deleted while held, or the Manager closed
	// alloc is how far from its start the chunk's file is allocated on
	// disk: lock-free stores go only below it (resize.go, allocLocked).
	alloc atomic.Int64
}

// dirtyBit is the top bit of slot.wd: the chunk was stored to since the last
// Sync. It shares a word with the count of stores in flight so that a writer
// leaving reads it in the same atomic operation (see slots.go and sync.go).
const dirtyBit = 1 << 31

// lateBit is the next bit of slot.wd: a lock-free store may have left the
// slot finding dirtyBit clear since the chunk was last fsync'd, so that it
// marks the chunk only afterwards, outside the slot (markStored), and may
// not have done so yet. It is set by the store itself, before it stores,
// where it entered finding the flag clear (an atomic, a Scatter). Whoever
// empties the slot (an eviction, Close) reads it with the flag, after the
// stores in flight have left, and hands the chunk to the next Sync as if
// the flag were set: the store's mark may come after that Sync has looked
// (after Close's, whose nil the store's nil must not outrun), and an
// eviction leaves nothing else that would name the chunk. A Sync that
// fsyncs the chunk clears it when no store is in the slot: every store
// that left before is in that fsync.
const lateBit = 1 << 30

// syncLateBit is lateBit's mark for a store that a Sync found in the slot
// as it cleared the flag (takeDirtyIn): such a store leaves finding the
// flag clear and marks the chunk afterwards, if it stored at all. It may
// not have: a store of another chunk that maps to this slot announces
// itself before it checks the slot's owner, and leaves having stored
// nothing. So the chunk it marks is handed to the next Sync, as for
// lateBit, but without naming the mapped file (as a clean chunk's is not:
// see dropLocked), so that a file another program replaced after that
// Sync fsync'd it is not reported as holding writes lost.
const syncLateBit = 1 << 29

// countMask is the part of slot.wd that counts the stores in flight.
const countMask = syncLateBit - 1

// enter announces a lock-free store and returns the slot's word after it,
// whose dirtyBit says whether the chunk was stored to since the last Sync.
func (s *slot) enter() uint32 { return s.wd.Add(1) }

// leave ends a lock-free store and reports whether the chunk was marked
// dirty at that instant.
func (s *slot) leave() (dirty bool) { return s.wd.Add(^uint32(0))&dirtyBit != 0 }

// storing reports whether a lock-free store is in flight.
func (s *slot) storing() bool { return s.wd.Load()&countMask != 0 }

// isDirty reports whether the dirty flag is set.
func (s *slot) isDirty() bool { return s.wd.Load()&dirtyBit != 0 }

// setDirty sets the dirty flag.
func (s *slot) setDirty() { s.wd.Or(dirtyBit) }

// setLate sets lateBit, for a store that entered finding the dirty flag
// clear, before it stores.
func (s *slot) setLate() { s.wd.Or(lateBit) }

// takeMarks clears the dirty flag, lateBit and syncLateBit, and reports
// whether the flag was set, whether lateBit was (stored reports either:
// the chunk was stored to through the mapping since it was last fsync'd),
// and whether any of the three was (the chunk may have been). The caller
// has drained the slot's stores (or no chunk is published there yet).
func (s *slot) takeMarks() (dirty, stored, maybe bool) {
	w := s.wd.And(^uint32(dirtyBit | lateBit | syncLateBit))
	dirty = w&dirtyBit != 0
	stored = dirty || w&lateBit != 0
	return dirty, stored, stored || w&syncLateBit != 0
}

// takeDirtyIn clears the dirty flag for a Sync and reports whether it was
// set. Where a store is in the slot as it clears a set flag, that store
// leaves finding it clear, and syncLateBit is set (under mu, which every
// caller that empties a slot holds, so none sees the slot in between).
func (s *slot) takeDirtyIn() (dirty bool) {
	w := s.wd.And(^uint32(dirtyBit))
	if dirty = w&dirtyBit != 0; dirty && w&countMask != 0 {
		s.wd.Or(syncLateBit)
	}
	return dirty
}

// clearLate clears lateBit and syncLateBit unless a store is in the slot,
// for a Sync that fsyncs the chunk after this: every store that left the
// slot before is in the page cache by then.
func (s *slot) clearLate() {
	const late = lateBit | syncLateBit
	for w := s.wd.Load(); w&late != 0 && w&countMask == 0; w = s.wd.Load() {
		if s.wd.CompareAndSwap(w, w&^late) {
			return
		}
	}
}

// mapping is a chunk mapped at its slot. Its fields are protected by mu.
type mapping struct {
	index  int64
	k      int // the slot's number
	s      *slot
	file   *chunk.File // open while mapped; Sync fsyncs it
	live   int         // position in mu.live while live
	freq   uint16      // Admission's count while live
	queued bool        // in mu.dirtyq
	gone   bool        // unmapped
}

// Reservation sizes. The arena costs address space only (its pages are
// inaccessible until a chunk is mapped), and a Go slice of 48 bytes per
// slot (TestSlotSize; a pointer more where the arena is not contiguous);
// chunks further apart than it is long share slots, which costs an
// eviction when both are wanted but never correctness.
const (
	// minSlots is the fewest slots of the default rule.
	minSlots = 64
	// maxSlots bounds the slot table of the default rule: 3 MiB of
	// table, an arena of 4 GiB of 64 KiB chunks.
	maxSlots = 1 << 16
	// maxSlotsOption bounds Options.ArenaSize: 48 MiB of table.
	maxSlotsOption = 1 << 20
	// maxArena64 bounds the default arena on 64-bit platforms: 256 GiB of
	// the 128 TiB that user space has, so hundreds of datasets fit at once.
	maxArena64 = 1 << 38
	// maxArena32 bounds the arena on 32-bit platforms, which share 2-3 GiB
	// of address space with the heap and the stacks.
	maxArena32 = 1 << 28
	// minRoom is the least address space an arena leaves free beside it
	// where address space is scarce (see reserveArena): what the Go
	// runtime reserves to grow its heap by one arena (64 MiB on 64-bit
	// platforms) where it cannot place it at its hint, an arena and as
	// much again to align it. "As much again" alone left 64 KiB beside a
	// slot of the smallest chunks, and with 64 MiB the heap's next growth
	// still failed.
	minRoom = 128 << 20
)

// arenaErr is the error of reserveArena when not one slot of chunkSize
// bytes could be kept: err, the reservation's, with what to do about it.
// Where the system refused it for want of memory (ENOMEM) and the process
// is at its limit of mappings (mapLimitNote), that limit is what to raise;
// raising ulimit -v, the advice otherwise, would not help.
func arenaErr(chunkSize int64, err error) error {
	advice := "the process is short of address space: raise its limit, ulimit -v, or use a smaller ChunkSize"
	if errors.Is(err, syscall.ENOMEM) {
		if note := mapLimitNote(); note != "" {
			advice = note
		}
	}
	return fmt.Errorf("reserve %d bytes of address space, and %d more for the rest of the program: %w (%s; a closed Manager's range returns to the system at once under a limit, else once the Manager is garbage collected)", chunkSize, max(chunkSize, minRoom), err, advice)
}

// arenaSlots returns the number of slots to reserve for chunks of
// chunkSize bytes in a dataset of nchunks chunks: Options.ArenaSize rounded
// up to a power of two, or by default four times as many as the dataset or
// MaxMapped needs (at least minSlots), within maxSlots and the platform's
// bound, and at least one. The table is sized once, at Open, so that a small
// dataset costs a small table; one that grows past a quarter of it while
// open shares slots until it is opened again.
func arenaSlots(o Options, chunkSize, nchunks int64) int {
	var bytes int64 = maxArena64
	if bits.UintSize == 32 {
		bytes = maxArena32
	}
	// Bounded before it is multiplied: 4 × a MaxMapped near
	// math.MaxInt64 overflowed, to the fewest slots instead of the most.
	want := max(minSlots, 4*min(max(nchunks, int64(o.MaxMapped)), maxSlots))
	n := max(1, min(want, maxSlots, bytes/chunkSize))
	if o.ArenaSize > 0 {
		n = o.ArenaSize / chunkSize
		if o.ArenaSize%chunkSize != 0 {
			n++
		}
		n = min(n, maxSlotsOption)
	}
	return 1 << bits.Len64(uint64(n-1))
}

// reserveArena reserves the arena and its slot table. If the address space
// cannot give that much in one range, it asks for half as much, down to one
// slot.
//
// Where address space is scarce (the process has a limit, RLIMIT_AS, or a
// first reservation failed), it keeps only an arena that leaves at least
// as much again free beside it, and at least minRoom, found by reserving
// that much more for an instant, so that the process keeps room to grow
// its heap and stacks: a Go program whose runtime cannot map memory dies,
// and an arena that took all there was would leave it nothing. Under a
// limit, the arenas of the process also take at most a quarter between
// them (arenasInProcess) of the room the rest of the process leaves under
// it, so that many Managers do not each take half of what the one before
// left. (A quarter of the limit itself would not do: the Go runtime alone
// reserves a gigabyte or more of address space on 64-bit platforms, so
// under a limit of 1.5 GiB a quarter of it was more than all that was
// free, and Managers of small chunks took the rest, down to the last
// "as much again" of one slot, and the program died at its next heap
// growth.) What the rest of the process holds is read from the system
// (addressSpaceInUse); where it cannot be (the BSDs and macOS, a sandbox
// hiding /proc/self/stat), the whole limit counts as room, and the first
// Managers may take more than the quarter, which fails a later Open
// (ENOMEM) rather than the runtime. The room is not searched for with
// reservations: one that took nearly all of it would leave the runtime,
// if it needed memory at that instant, to die. Failing all that, not one
// slot, Open fails. The arena is correct at any size: fewer slots only
// make chunks share them sooner.
//
// Open has checked the process's share of mappings (roomForArena) before
// it touched the directory.
func (m *Manager) reserveArena(nchunks int64) error {
	n := arenaSlots(m.opts, m.chunkSize, nchunks)
	limit, limited := addressSpaceLimit()
	if limited {
		room := limit
		if used, ok := addressSpaceInUse(); ok {
			// What the rest of the process holds: what is mapped, less
			// the arenas already counted in the share.
			rest := used - min(used, uint64(arenasInProcess.Load()))
			room -= min(room, rest)
		}
		// A power of two, as every slot count is: chunk i's slot is i
		// masked.
		share := int64(min(room/4, math.MaxInt64)) - arenasInProcess.Load()
		n = 1 << (bits.Len64(uint64(max(1, min(int64(n), share/m.chunkSize)))) - 1)
	}
	scarce := limited
	for {
		a, err := arena.Reserve(n, m.chunkSize)
		if err == nil && scarce {
			if probe, perr := arena.Reserve(1, max(int64(n)*m.chunkSize, minRoom)); perr != nil {
				a.Release()
				a, err = nil, perr
			} else {
				probe.Release()
			}
		}
		if err == nil {
			m.ar = a
			break
		}
		if n == 1 {
			return arenaErr(m.chunkSize, err)
		}
		n /= 2
		scarce = true
	}
	m.scarce = scarceAddressSpace || scarce
	arenasInProcess.Add(int64(n) * m.chunkSize)
	arenasHeld.Add(1)
	m.slots = make([]slot, n)
	m.smask = int64(n - 1)
	m.contiguous = m.ar.Contiguous() && !scatteredArena
	if m.contiguous {
		m.abase = m.ar.Base()
	} else {
		m.fbase = make([]atomic.Pointer[byte], n)
	}
	return nil
}

// scatteredArena makes Open treat every arena as not contiguous, as on
// platforms that cannot map a file at a chosen address: slot addresses are
// then loaded, and ranges across chunks go through private views. Tests set
// it (export_test.go) to run those paths on every platform.
var scatteredArena bool

// slotAddr returns the address of slot k. Where the arena is contiguous it
// is computed, never loaded, so it is the same before and after the slot is
// unmapped; elsewhere it is the slot's last mapping's address, which a
// reader that lost a race may use only under the fault guard and the own
// checks of slots.go.
func (m *Manager) slotAddr(k int64) unsafe.Pointer {
	if m.fbase == nil {
		return unsafe.Add(m.abase, k<<(m.shift&63))
	}
	return unsafe.Pointer(m.fbase[k].Load())
}

// slotBytes returns n bytes of slot k from offset o within it. The caller
// holds the slot, or mu with the chunk live.
func (m *Manager) slotBytes(k, o int64, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(m.slotAddr(k), o)), n)
}

// chunkOf returns the index of the chunk that holds offset off. (The mask
// spares the hot paths the compiler's clamp for shifts of 64 or more.)
func (m *Manager) chunkOf(off int64) int64 { return off >> (m.shift & 63) }

// slot returns the slot of chunk idx.
func (m *Manager) slot(idx int64) *slot { return &m.slots[idx&m.smask] }

// slotNum returns the number of chunk idx's slot.
func (m *Manager) slotNum(idx int64) int { return int(idx & m.smask) }

// mappingLocked returns chunk idx's live mapping, or nil.
//
// REQUIRES: m.mu held.
func (m *Manager) mappingLocked(idx int64) *mapping {
	mp, _ := m.mu.lru.Peek(idx)
	return mp
}

// lookupLocked returns the live mapping of chunk idx, mapping it if need
// be, or nil with a nil error if the chunk's slot is held by another chunk
// or lost (see the top of this file). The chunk must exist. Its errors name the
// chunk file, not the operation or offset (see wrapErr).
//
// REQUIRES: m.mu held.
func (m *Manager) lookupLocked(idx int64, op string) (*mapping, error) {
	if !m.live.Load() {
		return nil, ErrClosed
	}
	if mp := m.mappingLocked(idx); mp != nil {
		m.hits.Add(1)
		return mp, nil
	}
	m.misses.Add(1)
	m.recoverLocked()
	s := m.slot(idx)
	if s.doomed.Load() {
		return nil, nil
	}
	if s.own.Load() != 0 {
		// Another chunk lives in the slot: it must go first.
		other := m.mappingLocked(s.own.Load() - 1)
		if other == nil || !m.evictOneLocked(other) {
			return nil, nil
		}
	}
	if m.ar.Lost(m.slotNum(idx)) {
		// The slot was given up (arena.ErrSlotLost), maybe by the
		// eviction of the chunk that lived there just now. Checked before
		// the evictions below, which would make room for nothing.
		return nil, nil
	}
	// The file first: a chunk whose file cannot be opened (a follower's,
	// removed by another program) must not cost a mapped chunk its place
	// for a mapping that is never made.
	f, err := m.chunkFileLocked(idx)
	if err != nil {
		if refused(err) {
			return m.refusedLocked(idx, op, err)
		}
		return nil, err
	}
	m.evictLocked(1)
	if overMapBudget() {
		// The Managers of the process hold their share of the system's
		// mappings: this one gives back one of its own first, so that
		// the process keeps the rest (see mapBudget).
		m.evictOldestLocked()
	}
	mp, err := m.mapFileLocked(idx, op, f)
	if err != nil && refused(err) {
		mp, err = m.refusedLocked(idx, op, err)
	}
	if err != nil && m.ar.Lost(m.slotNum(idx)) {
		// This mapping lost the slot (arena.ErrSlotLost: refused after
		// the kernel emptied it, and part of the hole taken since): the
		// chunk is served as one whose slot was lost before, where the
		// retry of a refusal (refusedLocked) would report the loss and
		// fail a read that pread can serve.
		return nil, nil
	}
	return mp, err
}

// mapLocked maps chunk idx at its empty slot and makes it live.
//
// REQUIRES: m.mu held; the slot empty.
func (m *Manager) mapLocked(idx int64, op string) (*mapping, error) {
	f, err := m.chunkFileLocked(idx)
	if err != nil {
		return nil, err
	}
	return m.mapFileLocked(idx, op, f)
}

// chunkFileLocked returns chunk idx's file for a mapping: the cached one,
// or the file opened by name.
//
// REQUIRES: m.mu held.
func (m *Manager) chunkFileLocked(idx int64) (*chunk.File, error) {
	if f := m.takeFdLocked(idx); f != nil {
		return f, nil
	}
	f, err := m.openChunkLocked(idx, m.chunkMode(), false)
	if err != nil {
		return nil, chunkError(err)
	}
	m.adviseFile(f, false) // for the preads through it once it is cached
	return f, nil
}

// chunkMode is the mode the Manager maps and opens its chunk files in.
func (m *Manager) chunkMode() chunk.Mode {
	if m.opts.ReadOnly {
		return chunk.ReadOnly
	}
	return chunk.ReadWrite
}

// mapFileLocked is mapLocked with chunk idx's file f (chunkFileLocked),
// which it keeps open with the mapping, or closes if the mapping fails.
//
// REQUIRES: m.mu held; the slot empty.
func (m *Manager) mapFileLocked(idx int64, op string, f *chunk.File) (*mapping, error) {
	k := m.slotNum(idx)
	var p unsafe.Pointer
	err := roomForChunks(1)
	if err != nil {
		err = &fs.PathError{Op: "map", Path: f.Path(), Err: err}
	} else {
		p, err = m.ar.Map(k, f.OS(), m.chunkMode() == chunk.ReadWrite)
	}
	if err != nil {
		return nil, errors.Join(chunkError(err), f.Close())
	}
	m.maps.Add(1)
	mappedInProcess.Add(1)
	s := &m.slots[k]
	mp := &mapping{index: idx, k: k, s: s, file: f, freq: m.mu.freq[idx]}
	delete(m.mu.freq, idx)
	if m.opts.Advice != AdviceNormal {
		// A hint only changes speed; a failure changes nothing else.
		arena.Advise(p, m.chunkSize, m.opts.Advice.arena())
	}
	if m.fbase != nil {
		m.fbase[k].Store((*byte)(p))
	}
	s.used.Store(false)
	s.takeMarks() // the last chunk here handed its marks on as it left
	s.alloc.Store(m.mu.alloc[idx].end)
	s.gen.Add(1)
	s.own.Store(idx + 1) // last: publishes the slot to lock-free accessors
	m.mu.lru.Add(idx, mp)
	mp.live = len(m.mu.live)
	m.mu.live = append(m.mu.live, mp)
	m.over.Store(len(m.mu.live) > m.mu.mapBound)
	return mp, nil
}

// evictLocked unmaps least recently used chunks that nobody holds until n
// more can be mapped within MaxMapped, or until every mapped chunk is held.
//
// REQUIRES: m.mu held.
func (m *Manager) evictLocked(n int) {
	if len(m.mu.live)+n <= m.mu.mapBound {
		return
	}
	// Set before the holds are read, and kept set while evicting: a holder
	// that leaves after we read its hold then sees it, and evicts down to
	// the bound itself (see unholdSlot).
	m.over.Store(true)
	m.mu.evicting = true
	m.foldUsedLocked()
	for tries := m.mu.lru.Len(); tries > 0 && len(m.mu.live)+n > m.mu.mapBound; tries-- {
		idx, mp, _ := m.mu.lru.GetOldest()
		if !m.evictOneLocked(mp) {
			m.mu.lru.Get(idx) // held: try the next oldest
		}
	}
	m.mu.evicting = false
	m.over.Store(len(m.mu.live)+n > m.mu.mapBound)
}

// evictOldestLocked unmaps the least recently used chunk that nobody
// holds, if there is one, whatever the bound, and reports whether it did.
//
// REQUIRES: m.mu held.
func (m *Manager) evictOldestLocked() bool {
	m.foldUsedLocked()
	for tries := m.mu.lru.Len(); tries > 0; tries-- {
		idx, mp, _ := m.mu.lru.GetOldest()
		if m.evictOneLocked(mp) {
			return true
		}
		m.mu.lru.Get(idx) // held: try the next oldest
	}
	return false
}

// evictOneLocked unmaps the live mapping mp unless it is held, and reports
// whether it did.
//
// REQUIRES: m.mu held.
func (m *Manager) evictOneLocked(mp *mapping) bool {
	s := mp.s
	s.own.Store(0)
	if s.holds.Load() > 0 {
		s.own.Store(mp.index + 1)
		return false
	}
	m.unmapLocked(mp)
	m.evictions.Add(1)
	return true
}

// dropLocked takes a live mapping out of use for good, because its chunk is
// deleted (or, with deleted, left below Start: retireChunksLocked) or the
// Manager closes: it is unmapped now, or at its last release
// if it is held. A chunk that is not deleted keeps what was stored to it for
// the next Sync, held writable or not.
//
// REQUIRES: m.mu held.
func (m *Manager) dropLocked(mp *mapping, deleted bool) {
	s := mp.s
	s.own.Store(0)
	if !deleted {
		drainWriters(s)
		// A dirty chunk, or one held writable, is fsync'd by the Sync
		// that follows (Close's); and one where a lock-free store may
		// have left the slot finding the flag clear since the chunk was
		// last fsync'd (lateBit, syncLateBit): such a writer that
		// stored before the drain may still be on its way to mark the
		// chunk, after that Sync looked. Any other chunk was not stored
		// to since it was last fsync'd: each store left it with the flag
		// set, and so the chunk in that Sync's queue or marked for the
		// next. Fsyncing such chunks cost Close an fsync of every clean
		// mapped chunk (a device cache flush each, about 200 µs on ext4).
		_, stored, maybe := s.takeMarks()
		if held := s.wholds.Load() > 0; maybe || held {
			if err := m.ar.Flush(mp.k); err != nil {
				m.fail(fmt.Errorf("flush chunk file %s: %w", mp.file.Path(), err))
			}
			m.markFileDirtyLocked(mp.index, m.storedFileLocked(mp, stored || held))
		}
	}
	s.doomed.Store(true)
	if s.holds.Load() > 0 {
		m.unliveLocked(mp)
		m.mu.doomed = append(m.mu.doomed, mp)
		return
	}
	m.unmapLocked(mp)
	s.doomed.Store(false)
}

// storedFileLocked returns the identity of mp's file for Sync to check the
// name against (markFileDirtyLocked) where stored says that the chunk was
// stored to through the mapping since it was last fsync'd: the writes went
// to the mapped file, and another file under the name has not got them.
// Otherwise nil: the chunk may not have been stored to (syncLateBit), and a
// file another program replaced with a copy since has lost nothing.
//
// REQUIRES: m.mu held.
func (m *Manager) storedFileLocked(mp *mapping, stored bool) fs.FileInfo {
	if !stored {
		return nil
	}
	return mp.file.Info()
}

// unliveLocked removes mp from the LRU and the live list.
//
// REQUIRES: m.mu held.
func (m *Manager) unliveLocked(mp *mapping) {
	m.mu.lru.Remove(mp.index)
	if mp.freq > 0 {
		m.mu.freq[mp.index] = mp.freq
	}
	if m.mu.victim == mp {
		m.mu.victim = nil
	}
	last := m.mu.live[len(m.mu.live)-1]
	m.mu.live[mp.live], last.live = last, mp.live
	m.mu.live[len(m.mu.live)-1] = nil
	m.mu.live = m.mu.live[:len(m.mu.live)-1]
	mp.live = -1
	if !m.mu.evicting {
		m.over.Store(len(m.mu.live) > m.mu.mapBound)
	}
}

// unmapLocked empties mp's slot: it waits for the lock-free stores in
// flight, remembers a dirty chunk for the next Sync, and unmaps it. The
// file goes to the descriptor cache if the chunk is only evicted (not
// doomed: see dropLocked), so that mapping it again costs no open, and is
// closed otherwise.
//
// REQUIRES: m.mu held; mp's own word cleared and nobody holding it.
func (m *Manager) unmapLocked(mp *mapping) {
	if mp.live >= 0 {
		m.unliveLocked(mp)
	}
	s := mp.s
	drainWriters(s)
	// A store that left the slot finding the flag clear may mark the
	// chunk only after this (lateBit): by then nothing names the chunk
	// for Sync, and a Close before the mark would not fsync it.
	if _, stored, maybe := s.takeMarks(); maybe && !s.doomed.Load() {
		// Where fsync does not cover stores through a mapping, they are
		// written back before the mapping goes.
		if err := m.ar.Flush(mp.k); err != nil {
			m.fail(fmt.Errorf("flush chunk file %s: %w", mp.file.Path(), err))
		}
		m.markFileDirtyLocked(mp.index, m.storedFileLocked(mp, stored))
	}
	// fbase keeps the slot's old address: a reader that loads it after own
	// was cleared then faults, or fails its second check, rather than
	// dereference nil.
	if m.mu.unmapping != nil {
		// Close empties the slots together, before it lets go of mu
		// (unmapCollectedLocked); the file may be closed before: the
		// mapping keeps it (the arena is contiguous).
		*m.mu.unmapping = append(*m.mu.unmapping, slotChunk{mp.k, mp.index})
	} else {
		m.unmappedLocked(mp.index, m.ar.Unmap(mp.k))
	}
	if s.doomed.Load() {
		mp.file.Close()
	} else {
		_ = m.keepFdLocked(mp.index, mp.file) // a close's error changes nothing here
	}
	mp.gone = true
	m.unmaps.Add(1)
	mappedInProcess.Add(-1)
}

// unmappedLocked records err, the error of emptying the slot of chunk idx,
// for Close.
//
// REQUIRES: m.mu held.
func (m *Manager) unmappedLocked(idx int64, err error) {
	if err != nil && !errors.Is(err, arena.ErrSlotLost) && m.mu.slotErr == nil {
		// The slot stays mapped, and own stays cleared, so nothing
		// reaches it; mapping the next chunk there replaces it. (A lost
		// slot's mapping is gone, and its chunks are served as those of
		// a slot held by another chunk: see lookupLocked.)
		m.mu.slotErr = fmt.Errorf("unmap chunk %d: %w", idx, err)
	}
}

// slotChunk is a slot that Close empties, and the chunk mapped there.
type slotChunk struct {
	k   int
	idx int64
}

// unmapCollectedLocked empties the slots that unmapLocked collected while
// Close dropped every chunk, together (arena.UnmapSlots): one replacement
// of a run of slots flushes the processors' TLBs once, where emptying the
// slots one by one flushed them once per chunk, which on a virtual machine
// of two processors took about 200 µs each, most of a Close that had 16
// chunks mapped. Until then the collected slots still map their chunks,
// with own cleared and no writer in them, as in unmapLocked between the
// two steps; a reader in flight there reads the chunk and discards it on
// its second check.
//
// REQUIRES: m.mu held.
func (m *Manager) unmapCollectedLocked() {
	p := m.mu.unmapping
	m.mu.unmapping = nil
	if p == nil || len(*p) == 0 {
		return
	}
	index := make(map[int]int64, len(*p))
	ks := make([]int, len(*p))
	for i, sc := range *p {
		ks[i] = sc.k
		index[sc.k] = sc.idx
	}
	m.ar.UnmapSlots(ks, func(k int, err error) { m.unmappedLocked(index[k], err) })
}

// drainWriters waits until no lock-free store is in flight on s. Each is a
// handful of instructions between two atomic adds, so the wait is short;
// it yields rather than spin, in case the writer's goroutine was preempted
// there, and pauses its thread if it takes longer (the store may be waiting
// for a page to be read from disk). Not time.Sleep: the caller holds mu,
// and inside a testing/synctest bubble with a caller waiting for mu the
// bubble's clock, which that sleep would wait for, never moves. A pause
// keeps the thread's processor, which a sleep gave up, so it yields first:
// with one processor, a writer preempted while announced runs only then.
func drainWriters(s *slot) {
	for i := 0; s.storing(); i++ {
		runtime.Gosched()
		if i >= 64 {
			pause()
		}
	}
}

// holdLocked holds chunk idx's slot for a pin or a batch, mapping the chunk
// if need be, and returns its mapping; nil if the slot is held by another
// chunk. With write, the chunk is also held writable (see sync.go).
//
// REQUIRES: m.mu held; the chunk exists.
func (m *Manager) holdLocked(idx int64, write bool, op string) (*mapping, error) {
	mp, err := m.lookupLocked(idx, op)
	if mp == nil || err != nil {
		return nil, err
	}
	mp.s.holds.Add(1)
	if write {
		m.holdWritableLocked(mp)
	}
	return mp, nil
}

// holdFast holds chunk idx's slot without the lock if the chunk is mapped
// there, and reports whether it did.
func (m *Manager) holdFast(idx int64) (*slot, bool) {
	s := m.slot(idx)
	s.holds.Add(1)
	if s.own.Load() == idx+1 {
		return s, true
	}
	m.unholdSlot(s)
	return nil, false
}

// unholdSlot releases one hold of s. If this was the last hold, it unmaps
// the slot if its chunk was deleted while held, and evicts chunks if holds
// had kept more than MaxMapped mapped, or one if the Managers of the
// process hold more than their budget of mappings (pastMapBudget).
//
// When that work is already due, the last hold is released under mu, in
// the critical section that does it, so that Stats never counts the chunk
// as mapped beyond MaxMapped and not held. Otherwise it is released
// without the lock; holds that keep more than MaxMapped mapped from an
// instant later are seen after the release, and the work is done then.
func (m *Manager) unholdSlot(s *slot) {
	for {
		h := s.holds.Load()
		if h == 1 && (s.doomed.Load() || m.over.Load() || pastMapBudget()) {
			break
		}
		if !s.holds.CompareAndSwap(h, h-1) {
			continue
		}
		if h > 1 || !s.doomed.Load() && !m.over.Load() && !pastMapBudget() {
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.afterLastHoldLocked(s)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s.holds.Add(-1)
	m.afterLastHoldLocked(s)
}

// afterLastHoldLocked does what the release of the last hold of s leaves to
// do: evict what holds had kept mapped beyond MaxMapped (and one chunk
// where the Managers of the process hold more than their budget), and
// unmap s if its chunk was deleted while held.
//
// REQUIRES: m.mu held.
func (m *Manager) afterLastHoldLocked(s *slot) {
	if m.live.Load() {
		m.evictLocked(0)
		if pastMapBudget() {
			// The Managers of the process hold more than their share
			// of the system's mappings: what a pin, a batch or an atomic mapped
			// past it gives way once let go, or Managers that each map
			// one chunk so would hold more mappings than Open lets them
			// (roomForArena), and keep them while idle.
			m.evictOldestLocked()
		}
	}
	m.finishDoomedLocked(s)
}

// finishDoomedLocked unmaps slot s if its chunk was deleted while held and
// no hold is left, and gives a closed Manager's arena back once nothing is
// left in it.
//
// REQUIRES: m.mu held.
func (m *Manager) finishDoomedLocked(s *slot) {
	if s.holds.Load() > 0 || !s.doomed.Load() {
		return
	}
	for i, mp := range m.mu.doomed {
		if mp.s == s {
			m.mu.doomed = append(m.mu.doomed[:i], m.mu.doomed[i+1:]...)
			m.unmapLocked(mp)
			s.doomed.Store(false)
			if unmapBeforeRemove {
				m.removeLaterLocked()
			}
			break
		}
	}
	if !m.live.Load() {
		m.releaseArenaLocked()
	}
}

// retired is what a closed Manager gives back once nothing can use it.
type retired struct {
	ar        *arena.Arena
	state     mmap.MMap // the manifest's state page
	stateFile vfs.File  // the manifest file, where Close left it open for state
}

// releaseArenaLocked retires the arena once the Manager is closed and
// nothing holds a slot; until then it does nothing. Every slot is then an
// inaccessible reservation. A lock-free reader that passed its first check
// before Close may still load from the range: it faults, or fails its
// second check, as long as the range stays reserved (and would read, then
// discard, memory of another owner if it did not). So the range is given
// back to the system by a cleanup once the Manager is unreachable, which a
// goroutine still inside a method keeps it from being as long as it uses
// the Manager after its loads, as every path does (the second check). Until
// then it costs address space, not memory; if the cleanup never runs (a
// Manager never closed is never retired, and one kept reachable keeps its
// range), the range stays reserved: a cost, never a risk.
//
// On 32-bit platforms that cost is too high, and the arena's range is
// given back at once (the manifest's state page, one page, still waits, but
// for Windows, where Close unmapped it: detach_windows.go): a reader still past its first check then loads from an
// unmapped range (a fault, which its guard turns into a retry) or from
// whatever the system maps there next, and discards it when its second
// check finds its chunk gone. No store can land there: writers announce
// themselves before they check, and every slot was drained of them when
// Close emptied it. The README says so under Platforms.
//
// REQUIRES: m.mu held.
func (m *Manager) releaseArenaLocked() error {
	// Not before Close has let go of the state page: a pin or batch let go
	// while Close syncs, with mu released, would retire the page's mapping
	// as it is then, which Close goes on to unmap on Windows
	// (detach_windows.go), and its second unmap, when the Manager is
	// collected, could take away whatever the system has mapped at that
	// address by then: another Manager's state page or chunk.
	if m.live.Load() || !m.mu.detached || len(m.mu.doomed) > 0 || m.ar == nil {
		return nil
	}
	err := m.mu.slotErr
	m.mu.slotErr = nil
	r := retired{ar: m.ar}
	arenasHeld.Add(-1)
	if m.mfile != nil {
		r.state = m.mfile.mm
		if m.mfileOpen {
			r.stateFile = m.mfile.f
		}
	}
	m.ar = nil
	if m.scarce {
		// The arena now; the state page (one page, which a follower's
		// Size may still load and act on) once m is unreachable.
		releaseArena(r.ar)
		r.ar = nil
	}
	if r.state != nil {
		retiredPages.Add(1)
	}
	runtime.AddCleanup(m, retired.release, r)
	return err
}

// scarceAddressSpace is whether every closed Manager gives its range back
// at once (see releaseArenaLocked): on 32-bit platforms, where two or three
// arenas of 1 GiB chunks fill the address space, a closed Manager that the
// program still references would otherwise keep a reopen of its dataset
// from reserving one. So does a Manager opened under an address-space
// limit (Manager.scarce). Tests set it, to see a range given back.
var scarceAddressSpace = bits.UintSize == 32

// arenasInProcess counts the bytes of address space that the arenas of
// every Manager in the process hold (see reserveArena).
var arenasInProcess atomic.Int64

// releaseArena gives arena a back to the system.
func releaseArena(a *arena.Arena) {
	arenasInProcess.Add(-int64(a.Slots()) * a.SlotSize())
	a.Release()
}

// release gives the retired ranges back to the system.
func (r retired) release() {
	if r.ar != nil {
		releaseArena(r.ar)
	}
	if r.state != nil {
		r.state.Unmap()
		retiredPages.Add(-1)
	}
	if r.stateFile != nil {
		r.stateFile.Close()
	}
}
