package chunkmap

// This file holds Gather and Scatter: many small reads or writes at
// scattered offsets under one fault guard per block, in tight loops.

import (
	"fmt"
	"runtime/debug"
	"unsafe"
)

// Gather reads len(offs) values of n bytes each, the k-th from offset
// offs[k], into dst[k*n:(k+1)*n]. len(dst) must be at least len(offs)*n.
// Every value must lie wholly within [Start, Size); otherwise Gather returns
// ErrOutOfRange naming the first offending offset, after filling dst for the
// offsets before it. Values may straddle chunk boundaries.
//
// Gather exists for random access at memory speed: the values are copied
// under one fault guard per 256, with no lock and no locked instruction, in
// passes: one that resolves every offset to its mapped address, one that
// copies (its cache misses are independent of each other, so the processor
// overlaps them as it does in a loop over one flat mapping), and one that
// checks that no slot changed owner meanwhile (see slots.go). Gather may run
// in parallel with every other method; it does not retain dst or offs.
func (m *Manager) Gather(dst []byte, offs []int64, n int) error {
	if err := m.checkGather("gather", len(dst), len(offs), n); err != nil {
		return err
	}
	return m.gatherScatter("gather", dst, offs, n, false)
}

// Scatter writes len(offs) values of n bytes each, the k-th from
// src[k*n:(k+1)*n] to offset offs[k]. Every value must lie wholly within
// [Start, Size): Scatter does not extend the dataset. On an error it returns
// ErrOutOfRange (or ErrReadOnly, ErrClosed, ErrFault) after writing the
// values before the offending one. Like Gather it resolves addresses first
// and stores second, under one fault guard per 256 values; each store is
// announced in its slot (see slots.go), which Gather's loads need not be.
func (m *Manager) Scatter(src []byte, offs []int64, n int) error {
	if err := m.checkGather("scatter", len(src), len(offs), n); err != nil {
		return err
	}
	if err := m.checkWrite("scatter", ofLen(int64(n))); err != nil {
		return err
	}
	return m.gatherScatter("scatter", src, offs, n, true)
}

// gatherBlock is how many values a hot pass resolves before it copies them.
const gatherBlock = 256

// gatherScatter runs Gather (or, with write, Scatter) over checked
// arguments: a block at a time through the lock-free passes, and one value
// at a time through ReadAt's or WriteAt's general path where they stop.
func (m *Manager) gatherScatter(op string, buf []byte, offs []int64, n int, write bool) error {
	var clean [gatherBlock]int64
	for i := 0; i < len(offs); {
		block := offs[i:min(i+gatherBlock, len(offs))]
		var k, nclean int
		if write {
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
		off := offs[i]
		if err := m.checkRange(op, off, n); err != nil {
			return err
		}
		var err error
		if write {
			_, err = m.write(buf[i*n:(i+1)*n], off)
		} else {
			_, err = m.read(buf[i*n:(i+1)*n], off)
		}
		if err != nil {
			return m.wrapErr(op, at(off, int64(n)), err)
		}
		i++
	}
	return nil
}

func (m *Manager) checkGather(op string, nbuf, noffs, n int) error {
	if m.closed.Load() {
		return m.errorf(op, ofLen(int64(n)), ErrClosed, "")
	}
	if n <= 0 || n > MinChunkSize {
		return m.errorf(op, ofLen(int64(n)), ErrOutOfRange, fmt.Sprintf("value size %d outside [1, %d]", n, MinChunkSize))
	}
	if noffs > nbuf/n {
		return m.errorf(op, ofLen(int64(n)), ErrOutOfRange, fmt.Sprintf("%d values of %d bytes do not fit a %d-byte buffer", noffs, n, nbuf))
	}
	return nil
}

// gatherDistinct is the most distinct (slot, chunk) pairs one block of a
// Gather checks; a block that reaches more ends early, and the next one
// goes on. It keeps gatherSlots small, because the block zeroes it.
const gatherDistinct = 64

// gatherSlots is what hotGather checked of the slots a block reads from:
// each distinct (slot, chunk) once, with the generation it saw.
type gatherSlots struct {
	n      int
	slot   [gatherDistinct]*slot
	want   [gatherDistinct]int64 // 1 + the chunk index
	gen    [gatherDistinct]uint64
	recent [64]int32 // 1 + the position in slot of a recent (slot, chunk), by slot number mod 64
}

// resolve fills addr with the mapped address of each n-byte value at offs,
// stopping before the first that is outside [Start, Size), straddles a chunk
// boundary or lies in a chunk that is not mapped, and returns how many it
// resolved. It checks each slot once per block (the first time a value of
// its chunk comes up, as far as gs.recent remembers) and records it in gs.
func (m *Manager) resolve(offs []int64, n int, gs *gatherSlots, addr *[gatherBlock]unsafe.Pointer) int {
	start, size := m.state().start.Load(), m.state().size.Load()
	shift, mask, last := m.shift, m.mask, m.chunkSize-int64(n)
	for k, off := range offs {
		o := off & mask
		if off < start || off > size-int64(n) || o > last {
			return k
		}
		want := off>>shift + 1
		j := (want - 1) & m.smask
		s := &m.slots[j]
		if r := gs.recent[j&63]; r == 0 || gs.slot[r-1] != s || gs.want[r-1] != want {
			if gs.n == gatherDistinct {
				return k
			}
			g := s.gen.Load()
			if s.own.Load() != want {
				return k
			}
			gs.slot[gs.n], gs.want[gs.n], gs.gen[gs.n] = s, want, g
			gs.n++
			gs.recent[j&63] = int32(gs.n)
		}
		addr[k] = unsafe.Add(m.slotAddr(j), o)
	}
	return len(offs)
}

// hotGather copies up to gatherBlock values, stopping before the first the
// lock-free path cannot serve, and returns how many it copied. After a
// fault, or if a slot changed owner during the copy, it returns 0 and the
// caller reads the first value on the locked path; the block is then
// resolved again from the next one.
func (m *Manager) hotGather(dst []byte, offs []int64, n int) (done int) {
	var f fault
	defer catchFault(debug.SetPanicOnFault(true), &f)
	var gs gatherSlots
	var addr [gatherBlock]unsafe.Pointer
	k := m.resolve(offs, n, &gs, &addr)
	// The loads are independent, so their misses overlap.
	switch n {
	case 8:
		for i := range addr[:k] {
			*(*[8]byte)(dst[i*8:]) = *(*[8]byte)(addr[i])
		}
	case 4:
		for i := range addr[:k] {
			*(*[4]byte)(dst[i*4:]) = *(*[4]byte)(addr[i])
		}
	default:
		for i := range addr[:k] {
			copy(dst[i*n:(i+1)*n], unsafe.Slice((*byte)(addr[i]), n))
		}
	}
	loadFence()
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

// hotScatter stores up to gatherBlock values, announcing itself in each
// slot it stores to before checking the slot (see slots.go), and returns how
// many it stored, and in clean the chunks it stored to whose dirty flag was
// clear (for the caller to mark outside the guard). A slot is announced once
// per block however many values go to it (a small direct-mapped set of the
// slots announced finds most repeats), because each announcement is an
// atomic operation, which on cold data keeps the processor from overlapping
// the stores' cache misses. After a fault it leaves every slot it announced
// itself in and returns 0: the block's first value is then written on the
// locked path, which reports the fault, and values of the block that were
// stored already are stored again.
func (m *Manager) hotScatter(src []byte, offs []int64, n int, clean *[gatherBlock]int64) (done, nclean int) {
	var entered [gatherBlock]*slot // every slot announced, once per entry
	var enteredIdx [gatherBlock]int64
	var nentered int
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			for _, s := range entered[:nentered] {
				s.leave()
			}
			done, nclean = 0, 0
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	start, size := m.state().start.Load(), m.state().size.Load()
	shift, mask, last := m.shift, m.mask, m.chunkSize-int64(n)
	var addr [gatherBlock]unsafe.Pointer
	var recent [64]*slot // slots announced in this block, by slot number mod 64
	k := 0
	for _, off := range offs {
		o := off & mask
		if off < start || off > size-int64(n) || o > last {
			break
		}
		want := off>>shift + 1
		j := (want - 1) & m.smask
		s := &m.slots[j]
		if recent[j&63] != s {
			s.enter()
			entered[nentered], enteredIdx[nentered] = s, want-1
			nentered++
			recent[j&63] = s
		}
		if s.own.Load() != want || o+int64(n) > s.alloc.Load() {
			break
		}
		addr[k] = unsafe.Add(m.slotAddr(j), o)
		k++
	}
	switch n {
	case 8:
		for i := range addr[:k] {
			*(*[8]byte)(addr[i]) = *(*[8]byte)(src[i*8:])
		}
	case 4:
		for i := range addr[:k] {
			*(*[4]byte)(addr[i]) = *(*[4]byte)(src[i*4:])
		}
	default:
		for i := range addr[:k] {
			copy(unsafe.Slice((*byte)(addr[i]), n), src[i*n:(i+1)*n])
		}
	}
	ne := nentered
	nentered = 0
	for i, s := range entered[:ne] {
		dirty := s.leave()
		if !s.used.Load() {
			s.used.Store(true)
		}
		// Marking a chunk that was not stored to (a value refused after
		// its slot was announced) costs at most an fsync.
		if !dirty {
			clean[nclean] = enteredIdx[i]
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
