package bench

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// holdFloor is scopeFloor plus what a scope that bounds the memory it keeps
// mapped cannot do without: it holds each chunk (bigChunk bytes of the flat
// mapping) at its first access, so that no other goroutine could unmap it
// while the scope runs, and lets go of every chunk it held when it ends.
// A hold is one atomic add to a counter of the chunk's, on a cache line of
// its own, as an evictor must see it before it unmaps the chunk; the scope
// remembers what it holds in a table of its own, checked inline on every
// access. It is the least a Batch can cost that holds exactly the chunks
// it touches: on x86 an atomic read-modify-write is a full barrier, so
// each first access to a chunk waits for the loads before it to complete,
// which a flat loop overlaps.
type holdFloor struct {
	flat
	counts []paddedCount
	s      holdScope // reused by each kernel call (a contender is used by one goroutine)
}

// paddedCount is a chunk's count of holds, alone on its cache line.
type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

func openHoldFloor(d Dataset) (Contender, error) {
	if d.Options.ChunkSize != floorChunk {
		return nil, fmt.Errorf("bench: holdfloor holds chunks of %d bytes, the big sets' ChunkSize, not %d", floorChunk, d.Options.ChunkSize)
	}
	c, err := openFlat(d)
	if err != nil {
		return nil, err
	}
	f := *c.(*flat)
	counts := make([]paddedCount, (len(f.m)+floorChunk-1)/floorChunk)
	s := holdScope{n: uint64(len(f.m)), p: unsafe.Pointer(unsafe.SliceData(f.m)), held: make([]bool, len(counts)), counts: counts}
	return &holdFloor{flat: f, counts: counts, s: s}, nil
}

// floorChunk is holdFloor's chunk size: the big sets' ChunkSize (bigChunk
// in bench_test.go). A constant, so that finding a chunk's hold costs a
// shift by a constant, as little as it can.
const floorChunk = 64 << 20

// holdScope is holdFloor's scope object: the flat mapping, and which of its
// chunks the scope holds.
type holdScope struct {
	n      uint64
	p      unsafe.Pointer
	held   []bool
	list   []int
	counts []paddedCount
}

// bytes returns the n bytes at off, holding their chunk first if the scope
// does not yet. Small enough to be inlined.
func (s *holdScope) bytes(off int64, n int) (p []byte, err error) {
	p, err = holdBytes(s, off, n, (*holdScope).miss)
	return
}

func holdBytes(s *holdScope, off int64, n int, miss func(*holdScope, int64, int) ([]byte, error)) (p []byte, err error) {
	if o := uint64(off); o < s.n && uint64(n) <= s.n-o && s.held[o/floorChunk] {
		return unsafe.Slice((*byte)(unsafe.Add(s.p, o)), n), nil
	}
	p, err = miss(s, off, n)
	return
}

// miss holds the chunks of [off, off+n) and returns their bytes.
func (s *holdScope) miss(off int64, n int) ([]byte, error) {
	if o := uint64(off); o >= s.n || uint64(n) > s.n-o {
		return nil, fmt.Errorf("%w: %d bytes at %d", errScopeRange, n, off)
	}
	for i := off / floorChunk; i <= (off+int64(n)-1)/floorChunk; i++ {
		if !s.held[i] {
			s.counts[i].n.Add(1)
			s.held[i] = true
			s.list = append(s.list, int(i))
		}
	}
	return unsafe.Slice((*byte)(unsafe.Add(s.p, off)), n), nil
}

// scope runs fn with a scope over the whole mapping under one fault guard,
// then lets go of the chunks it held.
func (c *holdFloor) scope(fn func(*holdScope) error) (err error) {
	s := &c.s
	defer func() {
		for _, i := range s.list {
			c.counts[i].n.Add(-1)
			s.held[i] = false
		}
		s.list = s.list[:0]
	}()
	defer catchFault(debug.SetPanicOnFault(true), &err)
	return fn(s)
}

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
