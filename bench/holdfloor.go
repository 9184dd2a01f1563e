package bench

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// holdFloor is scopeFloor plus what a scope that bounds the memory it keeps
// mapped cannot do without: it holds each chunk (floorChunk bytes of the
// flat mapping) at its first access, so that no other goroutine could unmap
// it while the scope runs, and lets go of every chunk it held when it ends.
// A hold is one atomic add to a counter of the chunk's, on a cache line of
// its own, which an evictor would check before it unmaps the chunk; the
// scope remembers what it holds in a table of its own, checked inline on
// every access. That is what a Batch must do at the least, holding exactly
// the chunks it touches with Go's atomics: on x86 an atomic
// read-modify-write is a full barrier, so each first access to a chunk
// waits for the loads and stores before it to complete, which a flat loop
// overlaps.
type holdFloor struct {
	flat
	s holdScope // reused by each kernel call (a contender is used by one goroutine)
}

// paddedCount is a chunk's count of holds, alone on its cache line.
type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

// openHoldFloor maps d's flat file and makes a count of holds for each of
// its chunks.
func openHoldFloor(d Dataset) (Contender, error) {
	c, err := openFlat(d)
	if err != nil {
		return nil, err
	}
	f := *c.(*flat)
	nchunks := (len(f.m) + floorChunk - 1) / floorChunk
	s := holdScope{
		n:      uint64(len(f.m)),
		p:      unsafe.Pointer(unsafe.SliceData(f.m)),
		held:   make([]bool, nchunks),
		counts: make([]paddedCount, nchunks),
	}
	return &holdFloor{flat: f, s: s}, nil
}

// openAsymHoldFloor opens the asymmetric hold floor (holdfloor-asym):
// holdFloor with holds that need no atomic read-modify-write, and so no
// barrier on the reader's side: the scope marks each chunk it holds in a record of its own with a
// plain store, then loads the chunk's evicting word, and clears its marks
// with plain stores as it ends. An evictor would set the chunk's evicting
// word, then make every thread of the process execute a full barrier
// (Linux's membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED),
// FlushProcessWriteBuffers on Windows), then read every scope's record:
// either it sees the mark, or the scope sees the word and lets go. The
// benchmark never evicts; the contender measures what such holds cost the
// scope, beside holdfloor's atomic ones. (membarrier took 14 µs a call with
// both cores of a 2-core VM busy, 0.7 µs idle: less than the munmap and
// mmap an eviction makes.)
func openAsymHoldFloor(d Dataset) (Contender, error) {
	c, err := openHoldFloor(d)
	if err != nil {
		return nil, err
	}
	h := c.(*holdFloor)
	n := len(h.s.held)
	h.s.asym, h.s.marks, h.s.evicting = true, make([]uint32, n), make([]atomic.Uint32, n)
	h.s.counts = nil
	return h, nil
}

// floorChunk is holdFloor's chunk size, whatever the dataset's ChunkSize:
// the big sets' (bigChunk in bench_test.go), on which its figures are
// read. A constant, so that finding a chunk costs a shift by a constant,
// as little as it can.
const floorChunk = 64 << 20

// holdScope is holdFloor's scope object.
type holdScope struct {
	n    uint64         // the mapping's length
	p    unsafe.Pointer // where it is mapped
	held []bool         // by chunk: whether the scope holds it
	// list has the chunks held, in the order first held: what the
	// scope lets go of as it ends.
	list   []int
	counts []paddedCount // by chunk: its holds, shared by every scope
	// asym makes holds as the asymmetric floor does: a plain store to
	// marks, then a load of evicting, where holdFloor adds to counts.
	asym     bool
	marks    []uint32        // by chunk: 1 while this scope holds it (the scope's record)
	evicting []atomic.Uint32 // by chunk: set by an evictor; never set here
}

// bytes returns the n bytes at off, holding their chunk first if the scope
// does not yet. The benchmark's values never cross a chunk boundary, so the
// inline check looks at the chunk of off alone; miss holds every chunk of
// the range.
func (s *holdScope) bytes(off int64, n int) (p []byte, err error) {
	p, err = holdBytes(s, off, n, (*holdScope).miss)
	return
}

// holdBytes is bytes. miss is a parameter because the inliner charges a
// call of a parameter far less than a call of a function, which keeps
// bytes within the budget that lets it be inlined into the kernel's loop,
// as Batch.Bytes is.
func holdBytes(s *holdScope, off int64, n int, miss func(*holdScope, int64, int) ([]byte, error)) (p []byte, err error) {
	if o := uint64(off); o < s.n && uint64(n) <= s.n-o && s.held[o/floorChunk] {
		return unsafe.Slice((*byte)(unsafe.Add(s.p, o)), n), nil
	}
	p, err = miss(s, off, n)
	return
}

// miss holds the chunks of [off, off+n) that the scope does not hold yet
// and returns their bytes.
func (s *holdScope) miss(off int64, n int) ([]byte, error) {
	if o := uint64(off); o >= s.n || n <= 0 || uint64(n) > s.n-o {
		return nil, fmt.Errorf("%w: %d bytes at %d", errScopeRange, n, off)
	}
	for i := off / floorChunk; i <= (off+int64(n)-1)/floorChunk; i++ {
		if s.held[i] {
			continue
		}
		if s.asym {
			s.marks[i] = 1
			if s.evicting[i].Load() != 0 {
				s.marks[i] = 0
				return nil, fmt.Errorf("%w: chunk %d is being evicted", errScopeRange, i)
			}
		} else {
			s.counts[i].n.Add(1)
		}
		s.held[i] = true
		s.list = append(s.list, int(i))
	}
	return unsafe.Slice((*byte)(unsafe.Add(s.p, off)), n), nil
}

// scope runs fn with a scope over the whole mapping under one fault guard,
// then lets go of the chunks it held.
func (c *holdFloor) scope(fn func(*holdScope) error) (err error) {
	s := &c.s
	defer func() {
		for _, i := range s.list {
			if s.asym {
				s.marks[i] = 0
			} else {
				s.counts[i].n.Add(-1)
			}
			s.held[i] = false
		}
		s.list = s.list[:0]
	}()
	defer catchFault(debug.SetPanicOnFault(true), &err)
	return fn(s)
}

// ReadUint64s is the random-read kernel: one scope per call. It and
// WriteUint64s are written out like scopeFloor's, not shared through a
// generic function, so that bytes is inlined into the loop as in a
// caller's own code.
func (c *holdFloor) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	return c.scope(func(s *holdScope) error {
		for i, off := range offs {
			p, err := s.bytes(off, 8)
			if err != nil {
				return err
			}
			dst[i] = binary.LittleEndian.Uint64(p)
		}
		return nil
	})
}

// WriteUint64s is the random-write kernel: one scope per call.
func (c *holdFloor) WriteUint64s(offs []int64, src []uint64) error {
	src = src[:len(offs)]
	return c.scope(func(s *holdScope) error {
		for i, off := range offs {
			p, err := s.bytes(off, 8)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(p, src[i])
		}
		return nil
	})
}
