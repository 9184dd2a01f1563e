package chunkmap

// This file holds the atomics: sync/atomic operations on words of the
// dataset, in native byte order, in this process and across processes that
// map the same chunk files. Package accessor exposes them too.

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/word"
)

// atomicKind says which operation atomicOp performs.
type atomicKind uint8

const (
	atomicLoad atomicKind = iota
	atomicStore
	atomicAdd
	atomicCAS
)

// atomicNames names the operations in errors, which give the operand's
// size as the length: "atomic add 8 bytes at offset 16".
var atomicNames = [4]string{"atomic load", "atomic store", "atomic add", "atomic compare-and-swap"}

// LoadUint32 atomically loads the uint32 at offset off, in native byte
// order. The offset must be a multiple of 4, else the error matches
// ErrUnaligned, and the word must lie within [Start, Size), else it matches
// ErrOutOfRange. Like every atomic it may run in parallel with every other
// method, and is atomic with respect to the other atomics on the same word,
// in this process and in others that map the dataset. An atomic whose chunk
// is not mapped maps it (atomics need the mapping, never pread), and holds
// it for the length of the operation, like a pin: concurrent atomics that
// miss on different chunks may take the mapped chunks past MaxMapped by
// one each, until they return. At the bound such a miss also unmaps
// another chunk: atomics spread over more chunks than MaxMapped map and
// unmap one on most calls, hundreds to thousands of times the cost of a
// hit (see the README's "What MaxMapped bounds").
func (m *Manager) LoadUint32(off int64) (uint32, error) {
	x, _, err := m.atomicOp(atomicLoad, 4, off, 0, 0)
	return uint32(x), err
}

// StoreUint32 atomically stores x at offset off, in native byte order. The
// offset must be a multiple of 4 and the word must lie within [Start, Size):
// atomics never extend Size. On a ReadOnly Manager it returns ErrReadOnly.
func (m *Manager) StoreUint32(off int64, x uint32) error {
	_, _, err := m.atomicOp(atomicStore, 4, off, uint64(x), 0)
	return err
}

// AddUint32 atomically adds delta to the uint32 at offset off, in native
// byte order, and returns the new value; see StoreUint32 for the offset.
// To subtract a positive c, add ^uint32(c-1), as with [atomic.AddUint32].
func (m *Manager) AddUint32(off int64, delta uint32) (uint32, error) {
	x, _, err := m.atomicOp(atomicAdd, 4, off, uint64(delta), 0)
	return uint32(x), err
}

// CompareAndSwapUint32 atomically replaces the uint32 at offset off with new
// if it equals old, in native byte order, and reports whether it did; see
// StoreUint32 for the offset.
func (m *Manager) CompareAndSwapUint32(off int64, old, new uint32) (bool, error) {
	_, swapped, err := m.atomicOp(atomicCAS, 4, off, uint64(old), uint64(new))
	return swapped, err
}

// LoadUint64 is LoadUint32 for the uint64 at offset off, a multiple of 8.
func (m *Manager) LoadUint64(off int64) (uint64, error) {
	x, _, err := m.atomicOp(atomicLoad, 8, off, 0, 0)
	return x, err
}

// StoreUint64 is StoreUint32 for the uint64 at offset off, a multiple of 8.
func (m *Manager) StoreUint64(off int64, x uint64) error {
	_, _, err := m.atomicOp(atomicStore, 8, off, x, 0)
	return err
}

// AddUint64 is AddUint32 for the uint64 at offset off, a multiple of 8.
func (m *Manager) AddUint64(off int64, delta uint64) (uint64, error) {
	x, _, err := m.atomicOp(atomicAdd, 8, off, delta, 0)
	return x, err
}

// CompareAndSwapUint64 is CompareAndSwapUint32 for the uint64 at offset off,
// a multiple of 8.
func (m *Manager) CompareAndSwapUint64(off int64, old, new uint64) (bool, error) {
	_, swapped, err := m.atomicOp(atomicCAS, 8, off, old, new)
	return swapped, err
}

// atomicOp checks the arguments and performs the operation of kind on the
// size-byte word at off: lock-free if its chunk is mapped, otherwise on a
// pin. An aligned word never crosses a chunk boundary: ChunkSize is a
// multiple of 8, and the mapped address of every chunk is page-aligned, so
// an offset that is a multiple of size is an address that is too, as
// sync/atomic needs (64-bit atomics on 386 and 32-bit ARM included).
func (m *Manager) atomicOp(kind atomicKind, size int, off int64, a, b uint64) (x uint64, swapped bool, err error) {
	op := atomicNames[kind]
	if kind == atomicLoad {
		if !m.live.Load() {
			return 0, false, m.errorf(op, at(off, int64(size)), ErrClosed, "")
		}
		if m.follows.Load() {
			// The common case first, as ReadAt takes it: an aligned word
			// within the reader's Size, in a chunk it maps, read under
			// the page checks of hotRead1.
			if off&int64(size-1) == 0 && off >= 0 && off <= m.state().size.Load()-int64(size) {
				if x, _, ok, _ := m.hotAtomic(kind, size, off, 0, 0, m.shared.p); ok {
					return x, false, nil
				}
			}
			var ok bool
			ok, err = m.followedRead(op, at(off, int64(size)), func() (int64, error) {
				var err error
				if x, _, err = m.atomicIn(kind, size, off, a, b); err != nil {
					return 0, err
				}
				return valuesEnd([]int64{off}, size), nil
			})
			if !ok {
				x = 0
			}
			return x, false, err
		}
	} else if err := m.checkWrite(op, at(off, int64(size))); err != nil {
		return 0, false, err
	}
	return m.atomicIn(kind, size, off, a, b)
}

// atomicIn is atomicOp once the Manager's state is checked (and, for a
// following reader, Start and Size are the writer's).
func (m *Manager) atomicIn(kind atomicKind, size int, off int64, a, b uint64) (x uint64, swapped bool, err error) {
	op := atomicNames[kind]
	if off&int64(size-1) != 0 {
		if off < 0 {
			return 0, false, m.errorf(op, at(off, int64(size)), ErrOutOfRange, "negative offset")
		}
		return 0, false, m.errorf(op, at(off, int64(size)), ErrUnaligned, fmt.Sprintf("offset is not a multiple of %d", size))
	}
	if off < 0 || off < m.state().start.Load() || off > m.state().size.Load()-int64(size) {
		if err := m.checkRange(op, off, size); err != nil {
			return 0, false, err
		}
	}
	x, swapped, ok, clean := m.hotAtomic(kind, size, off, a, b, nil)
	if ok {
		if clean {
			m.markStored(off >> m.shift)
		}
		return x, swapped, nil
	}
	// The chunk is not mapped, or the access faulted: hold it with a pin,
	// which maps it, and try again; a fault now is the file's.
	var p *Pinned
	if kind == atomicLoad {
		p, err = m.pin(op, off, size, false)
	} else {
		p, err = m.pin(op, off, size, true)
	}
	if err != nil {
		return 0, false, err
	}
	defer p.Release()
	w := unsafe.Pointer(unsafe.SliceData(p.Bytes()))
	// The pin holds the chunk, not Size: a Truncate since the check may
	// have cut the word off, and a growth since zeroed it. Under mu
	// neither runs, so the word is checked again there and operated on
	// before either can (a follower's writer is another Manager: its
	// caller checks the writer's epoch around the call).
	m.mu.Lock()
	if !m.live.Load() {
		m.mu.Unlock()
		return 0, false, m.errorf(op, at(off, int64(size)), ErrClosed, "")
	}
	if d := m.rangeDetail(off, int64(size)); d != "" {
		m.mu.Unlock()
		return 0, false, m.errorf(op, at(off, int64(size)), ErrOutOfRange, d)
	}
	var f fault
	x, swapped, f = atomicAt(kind, size, w, a, b)
	m.mu.Unlock()
	if f.hit {
		return 0, false, placed(place(op, at(off, int64(size))), "%w: chunk file %s (truncated or removed by another process, or an I/O error; fault at address %#x)",
			ErrFault, m.chunkPath(off>>m.shift), f.addr)
	}
	return x, swapped, nil
}

// hotAtomic performs the operation lock-free if the word's chunk is mapped,
// as hotRead1 and hotWrite1 do (see slots.go), and reports whether it did,
// and for a write whether the chunk's dirty flag was clear. A following
// reader's load passes its writer's state page as pg, which it checks as
// hotRead1 does; others pass nil.
func (m *Manager) hotAtomic(kind atomicKind, size int, off int64, a, b uint64, pg *statePage) (x uint64, swapped, ok, clean bool) {
	var in *slot
	// ok is set only by a return after the last access (see hotRead1).
	defer endHot(debug.SetPanicOnFault(true), &ok, &in)
	atRace(siteAtomicSized)
	want := m.chunkOf(off) + 1
	k := (want - 1) & m.smask
	s := &m.slots[k]
	if kind == atomicLoad {
		var pe uint64
		if pg != nil {
			var taken bool // not ok: a fault must leave ok false
			if pe, taken = m.pageTaken(pg); !taken {
				return 0, false, false, false
			}
		}
		e := m.shrinks.Load()
		g := s.gen.Load()
		if s.own.Load() != want || off+int64(size) > m.state().size.Load() {
			return 0, false, false, false
		}
		atRace(siteAtomicLoad)
		w := unsafe.Add(m.slotAddr(k), off&m.mask)
		if size == 4 {
			x = uint64(word.Load32((*uint32)(w)))
		} else {
			x = word.Load64((*uint64)(w))
		}
		atRace(siteReadCopied)
		// The page before the slot, as in hotRead1.
		if pg != nil && !pageStill(pg, pe, off+int64(size)) {
			return 0, false, false, false
		}
		if s.own.Load() != want || s.gen.Load() != g || m.shrinks.Load() != e {
			return 0, false, false, false
		}
		return x, false, true, false
	}
	w0 := s.enter()
	in = s
	if s.own.Load() != want || off&m.mask+int64(size) > s.alloc.Load() || off+int64(size) > m.state().size.Load() {
		in = nil
		s.leave()
		return 0, false, false, false
	}
	if w0&(dirtyBit|lateBit) == 0 {
		// Set before the store leaves the slot (see lateBit).
		s.setLate()
	}
	atRace(siteAtomicWrite)
	w := unsafe.Add(m.slotAddr(k), off&m.mask)
	x, swapped = atomicOn(kind, size, w, a, b)
	in = nil
	dirty := s.leave()
	if !s.used.Load() {
		s.used.Store(true)
	}
	return x, swapped, true, !dirty
}

// atomicAt is atomicOn under a fault guard.
func atomicAt(kind atomicKind, size int, w unsafe.Pointer, a, b uint64) (x uint64, swapped bool, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	x, swapped = atomicOn(kind, size, w, a, b)
	return x, swapped, f
}

// atomicOn performs the operation on the word at w, with package word's
// operations, which a fault guard can catch also in a race-detector build.
func atomicOn(kind atomicKind, size int, w unsafe.Pointer, a, b uint64) (x uint64, swapped bool) {
	if size == 4 {
		p := (*uint32)(w)
		switch kind {
		case atomicLoad:
			return uint64(word.Load32(p)), false
		case atomicStore:
			word.Store32(p, uint32(a))
		case atomicAdd:
			return uint64(word.Add32(p, uint32(a))), false
		case atomicCAS:
			return 0, word.Cas32(p, uint32(a), uint32(b))
		}
		return 0, false
	}
	p := (*uint64)(w)
	switch kind {
	case atomicLoad:
		return word.Load64(p), false
	case atomicStore:
		word.Store64(p, a)
	case atomicAdd:
		return word.Add64(p, a), false
	case atomicCAS:
		return 0, word.Cas64(p, a, b)
	}
	return 0, false
}
