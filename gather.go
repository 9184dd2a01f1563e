package chunkmap

// This file holds Gather and Scatter: many small reads or writes at
// scattered offsets under one fault guard per block, in tight loops.

import (
	"errors"
	"fmt"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/units"
)

// Gather reads len(offs) values of n bytes each, the k-th from offset
// offs[k], into dst[k*n:(k+1)*n]. len(dst) must be at least len(offs)*n;
// a shorter dst is ErrOutOfRange, before anything is read. Every value must
// lie wholly within [Start, Size); otherwise Gather returns ErrOutOfRange
// naming the first offending offset, after filling dst for the offsets
// before it. Values may straddle chunk boundaries. n must lie in
// [1, MinChunkSize]: Gather is for small values (read a larger one with
// ReadAt); another n is ErrOutOfRange.
//
// Gather exists for random access at memory speed: the values are copied
// under one fault guard per 256, with no lock and no locked instruction, in
// passes: one that checks the range of every offset and the slot of every
// chunk they fall in (each chunk once), one that copies from addresses
// computed from the offsets alone (its cache misses are independent of each
// other, so the processor overlaps them as it does in a loop over one flat
// mapping), and one that checks that no slot changed owner meanwhile (see
// slots.go). Gather may run in parallel with every other method; it does not
// retain dst or offs. A Gather that fails may have written to dst past the
// values before the failing offset.
func (m *Manager) Gather(dst []byte, offs []int64, n int) error {
	if err := m.checkGather("gather", len(dst), offs, n); err != nil {
		return err
	}
	if m.follows.Load() {
		return m.gatherFollowed(dst, offs, n)
	}
	if len(offs) <= 1 {
		// One value stands on its own checks, as one ReadAt does.
		return m.gatherScatter("gather", dst, offs, n, false)
	}
	var err error
	if werr := m.readWhole("gather", firstValue(offs, n), func() { err = m.gatherScatter("gather", dst, offs, n, false) }); werr != nil {
		return werr
	}
	return err
}

// gatherFollowed is Gather for a following reader: a block at a time, each
// under one epoch of the writer. As for a ReadAt of several pieces
// (readFollowed), a cut between two blocks may reach values an earlier
// block read, beside values a later one read after the growth that
// followed the cut: a Gather of several blocks stands only if no cut since
// it began went below its furthest value's end, and is made again
// otherwise, followTries times at most.
func (m *Manager) gatherFollowed(dst []byte, offs []int64, n int) error {
	blocks := func() error {
		for i := 0; i < len(offs); i += gatherBlock {
			block := offs[i:min(i+gatherBlock, len(offs))]
			_, err := m.followedRead("gather", firstValue(block, n), func() (int64, error) {
				if err := m.gatherScatter("gather", dst[i*n:], block, n, false); err != nil {
					return 0, err // dst is void after an error
				}
				return valuesEnd(block, n), nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	if len(offs) <= gatherBlock {
		return blocks()
	}
	for range followTries {
		rm := m.shared.markRead()
		if err := blocks(); err != nil {
			return err
		}
		if low, _, ok := m.shared.lowestSince(rm); ok && low >= valuesEnd(offs, n) {
			return nil
		}
	}
	return m.errorf("gather", firstValue(offs, n), ErrOutOfRange, fmt.Sprintf("the writer cut the dataset into the values read during each of %d tries", followTries))
}

// Scatter writes len(offs) values of n bytes each, the k-th from
// src[k*n:(k+1)*n] to offset offs[k]. Every value must lie wholly within
// [Start, Size): Scatter does not extend the dataset, and n must lie in [1,
// MinChunkSize], as for Gather; a src shorter than len(offs)*n is
// ErrOutOfRange, before anything is written. On an error it returns
// ErrOutOfRange (or ErrReadOnly, ErrClosed, ErrFault) after writing the
// values before the offending one. Like Gather it checks first and stores
// second, under one fault guard per 256 values; it announces its stores in
// each slot it stores to, once per 256 values, before it checks the slot
// (see slots.go), which Gather's loads need not do.
func (m *Manager) Scatter(src []byte, offs []int64, n int) error {
	if m.opts.ReadOnly {
		// Before its arguments, as every other write reports it.
		return m.checkWrite("scatter", firstValue(offs, n))
	}
	if err := m.checkGather("scatter", len(src), offs, n); err != nil {
		return err
	}
	// A first offset that is negative or overflows is refused here, as
	// the value loop would refuse it, with nothing written.
	if err := m.checkWrite("scatter", firstValue(offs, n)); err != nil {
		return err
	}
	return m.gatherScatter("scatter", src, offs, n, true)
}

// valuesEnd returns the end of the furthest of the n-byte values at offs
// (maxOffset for one past it, or for offsets that fault: see loadOff).
func valuesEnd(offs []int64, n int) (end int64) {
	var f fault
	defer func() {
		if f.hit {
			end = maxOffset
		}
	}()
	defer catchFault(debug.SetPanicOnFault(true), &f) // runs first
	for _, off := range offs {
		if off > maxOffset-int64(n) {
			return maxOffset
		}
		end = max(end, off+int64(n))
	}
	return end
}

// gatherBlock is how many values a hot pass resolves before it copies them.
const gatherBlock = 256

// gatherScatter runs Gather (or, with write, Scatter) over checked
// arguments: a block at a time through the lock-free passes, and one value
// at a time through ReadAt's or WriteAt's general path where they stop.
func (m *Manager) gatherScatter(op string, buf []byte, offs []int64, n int, write bool) error {
	for i := 0; i < len(offs); {
		block := offs[i:min(i+gatherBlock, len(offs))]
		var k, nclean int
		if write {
			var clean [gatherDistinct]int64 // declared here: Go zeroes it, and a Gather has no use for it
			k, nclean = m.hotScatter(buf[i*n:], block, n, &clean)
			for _, idx := range clean[:nclean] {
				m.markStored(idx)
			}
		} else {
			k = m.hotGather(buf[i*n:], block, n)
		}
		i += k
		if i == len(offs) || k > 0 {
			continue // a block that stopped early is tried again from where it stopped
		}
		// The slow path: a value outside the range, straddling a
		// boundary, in a chunk that is not mapped, or one whose access
		// faulted or raced with an eviction.
		off, f := loadOff(offs, i)
		if f.hit {
			return m.wrapErr(op, ofLen(int64(n)), offsFault(f))
		}
		var err error
		if write {
			err = m.scatterOne(op, buf[i*n:(i+1)*n], off)
		} else {
			// Before the range check, the epoch first (see shrankSince).
			shrinks := m.shrinks.Load()
			size := m.state().size.Load()
			if err = m.checkRange(op, off, n); err == nil {
				_, err = m.read(buf[i*n:(i+1)*n], off)
			}
			if errors.Is(err, errPastEnd) {
				moved, perr := m.shrankSince(shrinks, size)
				if perr == nil && moved {
					// A Truncate overtook the read: the value is past
					// Size now, or Size grew back over it, and it is
					// read again.
					continue
				}
				if err = perr; err == nil {
					err = m.missingChunk(off) // as in readIn
				}
			}
		}
		if err != nil {
			return m.wrapErr(op, at(off, int64(n)), err)
		}
		i++
	}
	return nil
}

// scatterOne writes one value of a Scatter, p, at offset off on WriteAt's
// path, storing through the mapping as Scatter's own loop does (never a
// small write's pwrite: see cleanWrites), but where the value begins past
// a hole of a sparse chunk: that goes to pwrite, as a WriteAt's does (see
// holesBeforeLocked), which allocates its own blocks and no prefix up to
// them. As in WriteAt, no Truncate runs between the range check and the
// store; resize is let go by a deferred call, so that a panic of the file
// system under the write leaves no Truncate, DropBefore or Close waiting.
func (m *Manager) scatterOne(op string, p []byte, off int64) error {
	m.resize.RLock()
	defer m.resize.RUnlock()
	if err := m.checkRange(op, off, len(p)); err != nil {
		return err
	}
	_, err := m.writeIn(p, off, false)
	return err
}

// checkGather checks a Gather's or Scatter's arguments, and that the
// Manager is open; an error of the Manager's state names the first value's
// offset, where the call fails.
func (m *Manager) checkGather(op string, nbuf int, offs []int64, n int) error {
	if !m.live.Load() {
		return m.errorf(op, firstValue(offs, n), ErrClosed, "")
	}
	if n <= 0 || n > MinChunkSize {
		return m.errorf(op, ofLen(int64(n)), ErrOutOfRange, fmt.Sprintf("value size %d outside [1, %d]", n, MinChunkSize))
	}
	if len(offs) > nbuf/n {
		do := "do"
		if len(offs) == 1 {
			do = "does"
		}
		return m.errorf(op, ofLen(int64(n)), ErrOutOfRange, fmt.Sprintf("%s of %d bytes %s not fit a %d-byte buffer", units.Count(len(offs), "value"), n, do, nbuf))
	}
	return nil
}

// firstValue is the span of the first of the n-byte values at offs, or
// the value size alone if there is none.
func firstValue(offs []int64, n int) span {
	if len(offs) == 0 {
		return ofLen(int64(n))
	}
	off, f := loadOff(offs, 0)
	if f.hit {
		// Named by the value size alone: the value loop, reading the
		// offsets again, reports the fault.
		return ofLen(int64(n))
	}
	return at(off, int64(n))
}

// loadOff returns offs[i], read under a fault guard: offs is the caller's
// memory, which, like a buffer of values, may fault when touched (a
// mapping of a file that another program cut). The hot passes read the
// offsets under their own guard; the slow path and the names of errors
// read them here, so that such offsets are an error (offsFault) and not a
// SIGBUS that kills the process. f.hit says the load faulted.
func loadOff(offs []int64, i int) (off int64, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return offs[i], fault{}
}

// offsFault is the error of offsets that faulted at f.addr when read: the
// one pread and pwrite return for a buffer that is not memory they may
// read, EFAULT, as for a buffer of values (see bufferFault).
func offsFault(f fault) error {
	return fmt.Errorf("%w: the offsets passed faulted at address %#x: %w", ErrIO, f.addr, syscall.EFAULT)
}

// gatherDistinct is the most distinct chunks one block of a Gather or
// Scatter checks (or a chunk checked again after recent lost it); a block
// that reaches more ends early, and the next one goes on. It keeps the
// tables below small, because each block zeroes them.
const gatherDistinct = 64

// recentAt is where a block's table of recent chunks keeps a chunk, from its
// last offset t (never 0) and the Manager's recentMul: a multiplicative
// hash, which spares the hot loops a shift by the chunk size (a shift by a
// variable ties up a register on amd64, and the loops have none to spare).
func recentAt(t int64, mul uint64) uint64 { return uint64(t) * mul >> 58 }

// recentMul returns the multiplier of recentAt for chunks of 1<<shift
// bytes: 2^64 divided by the golden ratio, shifted right by shift (and
// odd). A chunk's last offset is t = (i+1)<<shift - 1 for its index i, so
// t times it is (i+1) times 2^64 divided by the golden ratio, less the
// multiplier itself (the same for every chunk) and less a term below
// (i+1)<<shift, under a 64th of one of the table's places while i is below
// 2^(52-shift) (2^21 chunks of 2 GiB). recentAt's six top bits are then a
// Fibonacci hash of the chunk's index, which puts 32 consecutive chunks at
// 32 different places of the 64 (TestRecentAt). One multiplier for every
// chunk size would not: t times it keeps only the bits of the multiplier
// below 64-shift, and with 1 GiB chunks 32 consecutive chunks shared 16
// places, so that a block checked its chunks again and again.
func recentMul(shift uint) uint64 { return 0x9e3779b97f4a7c15>>shift | 1 }

// gatherSlots is what hotGather checked of the slots a block reads from:
// each distinct (slot, chunk) once, with the generation it saw.
type gatherSlots struct {
	n    int
	slot [gatherDistinct]*slot
	want [gatherDistinct]int64 // 1 + the chunk index
	gen  [gatherDistinct]uint64
	// recent holds the last offset of chunks checked in this block, at
	// recentAt of it: a value whose chunk is there needs no check (a
	// chunk's slot is fixed, so the chunk names it). A chunk pushed out by
	// another is checked, and listed, again.
	recent [64]int64
}

// resolve returns how many of the n-byte values at offs, from the first,
// the lock-free path can read: it stops before the first that is outside
// [Start, Size), straddles a chunk boundary or lies in a chunk that is not
// mapped. It checks each chunk's slot once per block (as far as gs.recent
// remembers) and records it in gs.
func (m *Manager) resolve(offs []int64, n int, gs *gatherSlots) int {
	start, size := m.state().start.Load(), m.state().size.Load()
	atRace(siteBlockSized)
	mask, mul, last, end := m.mask, m.rmul, m.chunkSize-int64(n), size-int64(n)
	for k := 0; ; {
		// The inner loop makes no call, so that its values stay in
		// registers; it leaves for a chunk not checked yet.
		for ; k < len(offs); k++ {
			off := offs[k]
			if off < start || off > end || off&mask > last {
				return m.sizeHeld(k, size)
			}
			if t := off | mask; gs.recent[recentAt(t, mul)] != t {
				break
			}
		}
		if k == len(offs) || !gs.check(m, offs[k]) {
			return m.sizeHeld(k, size)
		}
	}
}

// sizeHeld returns k, the values a block's check pass accepted against
// Size size, if Size has not dropped below size since the pass looked at
// their slots, and 0 otherwise (see slots.go): the caller then takes the
// locked path for the block's first value.
func (m *Manager) sizeHeld(k int, size int64) int {
	if k > 0 && m.state().size.Load() < size {
		return 0
	}
	return k
}

// check checks that the chunk of offset off is mapped in its slot and lists
// the slot with the generation it saw; false means the chunk is not mapped,
// or the block has listed gatherDistinct slots already.
func (gs *gatherSlots) check(m *Manager, off int64) bool {
	if gs.n == gatherDistinct {
		return false
	}
	want := off>>m.shift + 1
	s := m.slot(want - 1)
	g := s.gen.Load()
	if s.own.Load() != want {
		return false
	}
	gs.slot[gs.n], gs.want[gs.n], gs.gen[gs.n] = s, want, g
	gs.n++
	t := off | m.mask
	gs.recent[recentAt(t, m.rmul)] = t
	return true
}

// hotGather copies up to gatherBlock values, stopping before the first the
// lock-free path cannot serve, and returns how many it copied. After a
// fault, or if a slot changed owner during the copy, it returns 0 and the
// caller reads the first value on the locked path; the block is then
// resolved again from the next one.
func (m *Manager) hotGather(dst []byte, offs []int64, n int) (done int) {
	var f fault
	defer catchFault(debug.SetPanicOnFault(true), &f)
	e := m.shrinks.Load() // before resolve loads Size
	var gs gatherSlots
	k := m.resolve(offs, n, &gs)
	atRace(siteGather)
	m.copyValues(dst, offs[:k], n, false)
	loadFence()
	atRace(siteReadCopied)
	if m.shrinks.Load() != e {
		return 0
	}
	for i, s := range gs.slot[:gs.n] {
		if s.own.Load() != gs.want[i] || s.gen.Load() != gs.gen[i] {
			return 0
		}
		if !s.used.Load() {
			s.used.Store(true)
		}
	}
	return k
}

// copyValues copies the n-byte value at each of offs, whose chunks the
// caller has checked, to buf (or, with store, from buf to the mapping).
// The addresses come from the offsets alone, so the loads (or stores) are
// independent and their cache misses overlap, as in a loop over one flat
// mapping.
func (m *Manager) copyValues(buf []byte, offs []int64, n int, store bool) {
	if len(offs) == 0 {
		// buf may then be shorter than one value, which the views of it
		// below must not be (the race detector checks such conversions).
		return
	}
	if m.fbase != nil {
		for i, off := range offs {
			p := unsafe.Slice((*byte)(unsafe.Add(m.slotAddr(off>>m.shift&m.smask), off&m.mask)), n)
			if store {
				copy(p, buf[i*n:(i+1)*n])
			} else {
				copy(buf[i*n:(i+1)*n], p)
			}
		}
		return
	}
	// The arena is contiguous: a value is at its offset modulo the
	// arena's size from the arena's base. For 8- and 4-byte values buf is
	// taken as an array of values ([n]byte, so alignment does not matter)
	// of exactly len(offs): Go then checks no bound inside the loops, which
	// keeps each step to a few instructions, so that the processor has as
	// many loads (or stores) in flight as over one flat mapping.
	base, amask := m.abase, m.smask<<m.shift|m.mask
	switch {
	case n == 8 && !store:
		vals := unsafe.Slice((*[8]byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/8)[:len(offs)]
		for i, off := range offs {
			vals[i] = *(*[8]byte)(unsafe.Add(base, off&amask))
		}
	case n == 8:
		vals := unsafe.Slice((*[8]byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/8)[:len(offs)]
		for i, off := range offs {
			*(*[8]byte)(unsafe.Add(base, off&amask)) = vals[i]
		}
	case n == 4 && !store:
		vals := unsafe.Slice((*[4]byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/4)[:len(offs)]
		for i, off := range offs {
			vals[i] = *(*[4]byte)(unsafe.Add(base, off&amask))
		}
	case n == 4:
		vals := unsafe.Slice((*[4]byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/4)[:len(offs)]
		for i, off := range offs {
			*(*[4]byte)(unsafe.Add(base, off&amask)) = vals[i]
		}
	default:
		for i, off := range offs {
			p := unsafe.Slice((*byte)(unsafe.Add(base, off&amask)), n)
			if store {
				copy(p, buf[i*n:(i+1)*n])
			} else {
				copy(buf[i*n:(i+1)*n], p)
			}
		}
	}
}

// scatterSlots is what hotScatter announced itself in: each distinct
// (slot, chunk) once, and where its chunk is allocated on disk.
type scatterSlots struct {
	n       int
	entered [gatherDistinct]*slot // every slot announced, once per entry
	idx     [gatherDistinct]int64 // its chunk
	// checked is true for the slots whose check passed: their chunks
	// are stored to. A slot announced and refused was not.
	checked [gatherDistinct]bool
	// recent and top hold, at recentAt of a chunk's last offset, that
	// offset (see gatherSlots.recent) and the last offset in the chunk at
	// which a value is allocated on disk (its allocation watermark as seen
	// once announced in its slot, less the value's size). A value at or
	// below top is also inside its chunk, the watermark being at most the
	// chunk's size.
	recent [64]int64
	top    [64]int64
}

// enterAll returns how many of the n-byte values at offs, from the first,
// the lock-free path can store: it stops before the first that is outside
// [Start, Size), straddles a chunk boundary, or lies in a chunk that is not
// mapped or not allocated that far. It announces a store in each chunk's
// slot once per block (as far as ws.recent remembers), before checking the
// slot, and records it in ws; the caller leaves each.
func (m *Manager) enterAll(offs []int64, n int, ws *scatterSlots) int {
	start, size := m.state().start.Load(), m.state().size.Load()
	atRace(siteBlockSized)
	mask, mul, end := m.mask, m.rmul, size-int64(n)
	for k := 0; ; {
		// As in resolve, the inner loop makes no call. A value across a
		// chunk boundary leaves it as one past top does, and enter
		// refuses it: one comparison a value less than checking the
		// boundary on its own.
		for ; k < len(offs); k++ {
			off := offs[k]
			if off < start || off > end {
				return m.sizeHeld(k, size)
			}
			if t, h := off|mask, recentAt(off|mask, mul); ws.recent[h] != t || off&mask > ws.top[h] {
				break
			}
		}
		if k == len(offs) || !ws.enter(m, offs[k], n) {
			return m.sizeHeld(k, size)
		}
	}
}

// enter announces a store in the slot of offset off's chunk and checks the
// slot: false means the chunk is not mapped there, or not allocated as far
// as the n bytes at off, or the block has announced itself in
// gatherDistinct slots already. Once a store is announced and the chunk
// checked, the chunk stays in its slot until the store leaves (see
// slots.go), so the check holds for every value of the block.
func (ws *scatterSlots) enter(m *Manager, off int64, n int) bool {
	if ws.n == gatherDistinct {
		return false
	}
	want := off>>m.shift + 1
	s := m.slot(want - 1)
	w := s.enter()
	ws.entered[ws.n], ws.idx[ws.n] = s, want-1
	ws.n++
	if s.own.Load() != want {
		return false
	}
	top := min(s.alloc.Load(), m.chunkSize) - int64(n)
	if off&m.mask > top {
		return false // past the chunk's allocated bytes, or its end
	}
	if w&(dirtyBit|lateBit) == 0 {
		// Set before the block leaves the slot (see lateBit).
		s.setLate()
	}
	h := recentAt(off|m.mask, m.rmul)
	ws.recent[h], ws.top[h] = off|m.mask, top
	ws.checked[ws.n-1] = true
	return true
}

// hotScatter stores up to gatherBlock values, announcing itself in each
// slot it stores to before checking the slot (see slots.go), and returns how
// many it stored, and in clean the chunks it stored to whose dirty flag was
// clear (for the caller to mark outside the guard). A slot is announced once
// per block however many values go to it, because each announcement is an
// atomic operation, which on cold data keeps the processor from overlapping
// the stores' cache misses. After a fault it leaves every slot it announced
// itself in and returns 0: the block's first value is then written on the
// locked path, which reports the fault, and values of the block that were
// stored already are stored again.
func (m *Manager) hotScatter(src []byte, offs []int64, n int, clean *[gatherDistinct]int64) (done, nclean int) {
	var ws scatterSlots
	defer func() {
		if r := recover(); r != nil {
			if _, ok := memFault(r); !ok {
				panic(r)
			}
			for _, s := range ws.entered[:ws.n] {
				s.leave()
			}
			done, nclean = 0, 0
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	k := m.enterAll(offs, n, &ws)
	atRace(siteScatter)
	m.copyValues(src, offs[:k], n, true)
	ne := ws.n
	ws.n = 0 // left below: the deferred recovery must not leave them again
	for i, s := range ws.entered[:ne] {
		dirty := s.leave()
		if !s.used.Load() {
			s.used.Store(true)
		}
		// A slot refused (its chunk not mapped there, or not allocated
		// that far), or a block whose stores were all called off (Size
		// dropped: sizeHeld), stored nothing: marking its chunk would
		// make Sync fsync it, and report it lost if its file is gone.
		if !dirty && ws.checked[i] && k > 0 {
			clean[nclean] = ws.idx[i]
			nclean++
		}
	}
	return k, nclean
}

// markStored marks chunk idx as stored to by a lock-free store whose slot
// was clean: through its mapping if it is still live, else by index, so
// that a chunk evicted between the store and this call (with its flag
// clear, so not handed to Sync then) is still fsync'd by the next Sync.
//
// REQUIRES: m.mu not held.
func (m *Manager) markStored(idx int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mp := m.mappingLocked(idx); mp != nil {
		m.markDirtyLocked(mp)
	} else if idx >= m.mu.first && idx < m.mu.first+m.mu.nchunks {
		m.mu.dirty[idx] = struct{}{}
	}
}
