package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// clxEdgeManager returns a Manager with Start at chunk 2 and Size 5 chunks
// and 100 bytes, its bytes a pattern.
func clxEdgeManager(t *testing.T) (*chunkmap.Manager, []byte) {
	t.Helper()
	m := clxOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 2})
	t.Cleanup(func() { m.Close() })
	data := make([]byte, 5*clxChunk+100)
	for i := range data {
		data[i] = byte(i*7 + i>>16)
	}
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(2*clxChunk + 5); err != nil {
		t.Fatal(err)
	}
	if m.Start() != 2*clxChunk {
		t.Fatalf("Start %d after DropBefore(2 chunks + 5)", m.Start())
	}
	return m, data
}

// TestClientxReadAtBoundaries holds ReadAt to io.ReaderAt and to its doc at
// every boundary: negative offsets, below Start, at Start, across chunk
// boundaries, at and past Size, and near math.MaxInt64, for zero, small and
// large lengths.
func TestClientxReadAtBoundaries(t *testing.T) {
	m, data := clxEdgeManager(t)
	f := &clxModel{data: data, start: m.Start()}
	s, z := m.Start(), m.Size()
	offs := []int64{math.MinInt64, -1, 0, s - 1, s, s + 1, 3*clxChunk - 1, 3 * clxChunk, z - 1, z, z + 1,
		math.MaxInt64 - 1, math.MaxInt64}
	for _, off := range offs {
		for _, n := range []int{0, 1, 8, clxChunk, 2*clxChunk + 3, 6*clxChunk + 1} {
			clxCheckRead(t, fmt.Sprintf("ReadAt(%d bytes, %d)", n, off), m, f, off, n)
		}
	}
}

// TestClientxZeroLengthNegativeOffset checks that every call given a
// negative offset refuses it with ErrOutOfRange, also for zero bytes: the
// doc of ErrOutOfRange lists negative offsets without exception, and
// ReadAt, WriteAt, Pin and Batch.Bytes all refuse them.
func TestClientxZeroLengthNegativeOffset(t *testing.T) {
	m, _ := clxEdgeManager(t)
	calls := []struct {
		name, op string
		f        func(off int64) error
	}{
		{"ReadAt", "read", func(off int64) error { _, err := m.ReadAt(nil, off); return err }},
		{"WriteAt", "write", func(off int64) error { _, err := m.WriteAt(nil, off); return err }},
		{"Pin", "pin", func(off int64) error { p, err := m.Pin(off, 0); p.Release(); return err }},
		{"Batch.Bytes", "batch read", func(off int64) error {
			return m.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(off, 0); return err })
		}},
		{"DropBefore", "drop", func(off int64) error { return m.DropBefore(off) }},
		{"Truncate", "truncate", func(off int64) error { return m.Truncate(off) }},
		{"Advise", "advise", func(off int64) error { return m.Advise(off, 0, chunkmap.AdviceWillNeed) }},
	}
	for _, c := range calls {
		for _, off := range []int64{-1, math.MinInt64} {
			if d := clxErr(c.f(off), chunkmap.ErrOutOfRange, c.op, fmt.Sprintf("offset %d", off)); d != "" {
				t.Errorf("%s at offset %d, 0 bytes: %s", c.name, off, d)
			}
		}
	}
}

// TestClientxGatherValueSizes gathers and scatters values of up to 64 KiB
// (MinChunkSize) that lie wholly within [Start, Size), straddling chunk
// boundaries, and checks that a larger value size is refused as documented:
// ErrOutOfRange naming the size, with nothing read or written.
func TestClientxGatherValueSizes(t *testing.T) {
	m, data := clxEdgeManager(t)
	s := m.Start()
	for _, n := range []int{clxChunk - 1, clxChunk} {
		offs := []int64{s, s + 3, m.Size() - int64(n)}
		dst := make([]byte, len(offs)*n)
		if err := m.Gather(dst, offs, n); err != nil {
			t.Errorf("Gather of %d values of %d bytes inside [Start, Size): %v", len(offs), n, err)
			continue
		}
		for k, o := range offs {
			if !bytes.Equal(dst[k*n:(k+1)*n], data[o:o+int64(n)]) {
				t.Errorf("Gather value %d at %d of %d bytes differs", k, o, n)
			}
		}
		if err := m.Scatter(dst, offs, n); err != nil {
			t.Errorf("Scatter of %d values of %d bytes inside [Start, Size): %v", len(offs), n, err)
		}
	}
	for _, n := range []int{chunkmap.MinChunkSize + 1, 2*clxChunk + 7} {
		offs := []int64{s}
		buf := bytes.Repeat([]byte{0xee}, n)
		if err := m.Gather(buf, offs, n); !errors.Is(err, chunkmap.ErrOutOfRange) || !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("Gather of a %d-byte value: %v, want ErrOutOfRange naming the size", n, err)
		}
		if !bytes.Equal(buf, bytes.Repeat([]byte{0xee}, n)) {
			t.Errorf("a refused Gather of %d-byte values wrote to dst", n)
		}
		if err := m.Scatter(buf, offs, n); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Scatter of a %d-byte value: %v, want ErrOutOfRange", n, err)
		}
		got := make([]byte, 16)
		if _, err := m.ReadAt(got, s); err != nil || !bytes.Equal(got, data[s:s+16]) {
			t.Errorf("a refused Scatter of %d-byte values changed the dataset (%v)", n, err)
		}
	}
}

// TestClientxGatherErrors checks the error contract of Gather and Scatter:
// the first offending offset is named, the values before it are done.
func TestClientxGatherErrors(t *testing.T) {
	m, data := clxEdgeManager(t)
	s, z := m.Start(), m.Size()
	for _, bad := range []int64{-8, s - 1, z - 7, z, math.MaxInt64 - 3} {
		offs := []int64{s, z - 8, bad, s + 8}
		dst := make([]byte, 8*len(offs))
		err := m.Gather(dst, offs, 8)
		if d := clxErr(err, chunkmap.ErrOutOfRange, "gather", fmt.Sprintf("offset %d", bad)); d != "" {
			t.Errorf("Gather with offset %d: %s", bad, d)
		}
		if !bytes.Equal(dst[:8], data[s:s+8]) || !bytes.Equal(dst[8:16], data[z-8:z]) {
			t.Errorf("Gather with offset %d: the values before it were not read", bad)
		}
		src := bytes.Repeat([]byte{0xEE}, 8*len(offs))
		err = m.Scatter(src, offs, 8)
		if d := clxErr(err, chunkmap.ErrOutOfRange, "scatter", fmt.Sprintf("offset %d", bad)); d != "" {
			t.Errorf("Scatter with offset %d: %s", bad, d)
		}
		got := make([]byte, 8)
		if _, err := m.ReadAt(got, s+8); err != nil || !bytes.Equal(got, data[s+8:s+16]) {
			t.Errorf("Scatter with offset %d wrote the value after it: %x, %v", bad, got, err)
		}
		copy(data[s:], src[:8])
		copy(data[z-8:], src[8:16])
	}
	// A short buffer is refused before anything is read.
	if err := m.Gather(make([]byte, 15), []int64{s, s}, 8); err == nil {
		t.Error("Gather into a buffer too short for its values: nil error")
	}
	// io.EOF is never what Gather returns.
	if err := m.Gather(make([]byte, 8), []int64{z}, 8); err == io.EOF {
		t.Error("Gather at Size returned a bare io.EOF")
	}
}
