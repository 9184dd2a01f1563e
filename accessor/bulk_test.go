package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

type number interface {
	uint16 | uint32 | uint64 | float32 | float64
}

// bulkMethods are the bulk read and write of one element type.
type bulkMethods[T number] struct {
	read  func(va *accessor.ViewAccessor, off int64, dst []T) error
	write func(va *accessor.ViewAccessor, off int64, src []T) error
}

var (
	bulkUint16 = bulkMethods[uint16]{(*accessor.ViewAccessor).ReadUint16s, (*accessor.ViewAccessor).WriteUint16s}
	bulkUint32 = bulkMethods[uint32]{(*accessor.ViewAccessor).ReadUint32s, (*accessor.ViewAccessor).WriteUint32s}
	bulkUint64 = bulkMethods[uint64]{(*accessor.ViewAccessor).ReadUint64s, (*accessor.ViewAccessor).WriteUint64s}
	bulkFlt32  = bulkMethods[float32]{(*accessor.ViewAccessor).ReadFloat32s, (*accessor.ViewAccessor).WriteFloat32s}
	bulkFlt64  = bulkMethods[float64]{(*accessor.ViewAccessor).ReadFloat64s, (*accessor.ViewAccessor).WriteFloat64s}
)

// values returns n distinct values of T (distinct in every byte for the
// integer types).
func values[T number](n int, seed uint64) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T((uint64(i) + seed) * 0x9e3779b97f4a7c15 >> 20)
	}
	return s
}

// testBulk round-trips slices of several lengths, starting unaligned just
// before a chunk boundary so that they cross one or more boundaries, and
// checks the bytes against encoding/binary's layout.
func testBulk[T number](t *testing.T, bm bulkMethods[T]) {
	size := binary.Size(T(0))
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian, swapOrder{}} {
		t.Run(fmt.Sprintf("order=%v", order), func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{MaxMapped: 1})
			va := accessor.New(m, order)
			off := int64(cs - 3*size + 1)
			for _, n := range []int{0, 1, 5, 4096/size + 3, 2*cs/size + 7} {
				src := values[T](n, uint64(n))
				if err := bm.write(va, off, src); err != nil {
					t.Fatalf("write %d values at %d: %v", n, off, err)
				}
				dst := make([]T, n)
				if err := bm.read(va, off, dst); err != nil {
					t.Fatalf("read %d values at %d: %v", n, off, err)
				}
				if !slices.Equal(dst, src) {
					t.Errorf("read %d values at %d: got a different slice back", n, off)
				}
				if n == 0 {
					continue
				}
				want, err := binary.Append(nil, order, src)
				if err != nil {
					t.Fatal(err)
				}
				if got := readBack(t, m, off, len(want)); !bytes.Equal(got, want) {
					t.Errorf("write %d values at %d: the bytes differ from encoding/binary's layout", n, off)
				}
			}
		})
	}
	t.Run("range", func(t *testing.T) {
		m := newTestManager(t, nil)
		va := accessor.New(m, nil)
		fill(t, m, 0, 2*cs+100)
		size64 := int64(size)
		sentinel := values[T](3, 99)
		for _, tc := range []struct {
			name string
			off  int64
		}{
			{"ends-past-size", m.Size() - 2*size64},
			{"at-size", m.Size()},
			{"far", 1 << 50},
		} {
			dst := slices.Clone(sentinel)
			if err := bm.read(va, tc.off, dst); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("%s: read 3 values at %d with Size %d = %v, want ErrOutOfRange", tc.name, tc.off, m.Size(), err)
			}
			if !slices.Equal(dst, sentinel) {
				t.Errorf("%s: a refused read changed dst", tc.name)
			}
		}
		if err := bm.read(va, m.Size()+100, nil); err != nil {
			t.Errorf("empty read past Size = %v, want nil (like ReadAt)", err)
		}
		// A write past Size extends it, with zeros in the gap.
		old := m.Size()
		off := old + 5
		src := values[T](1000, 1)
		if err := bm.write(va, off, src); err != nil {
			t.Fatal(err)
		}
		if got, want := m.Size(), off+int64(len(src))*size64; got != want {
			t.Errorf("Size after a write past it = %d, want %d", got, want)
		}
		if gap := readBack(t, m, old, 5); !bytes.Equal(gap, make([]byte, 5)) {
			t.Errorf("gap before a bulk write past Size = % x, want zeros", gap)
		}
		// Below Start.
		if err := m.DropBefore(cs); err != nil {
			t.Fatal(err)
		}
		if err := bm.read(va, cs-size64, make([]T, 2)); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("read below Start = %v, want ErrOutOfRange", err)
		}
		if err := bm.write(va, cs-size64, make([]T, 2)); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("write below Start = %v, want ErrOutOfRange", err)
		}
	})
}

func TestViewAccessor_Bulk(t *testing.T) {
	t.Run("Uint16s", func(t *testing.T) { testBulk(t, bulkUint16) })
	t.Run("Uint32s", func(t *testing.T) { testBulk(t, bulkUint32) })
	t.Run("Uint64s", func(t *testing.T) { testBulk(t, bulkUint64) })
	t.Run("Float32s", func(t *testing.T) { testBulk(t, bulkFlt32) })
	t.Run("Float64s", func(t *testing.T) { testBulk(t, bulkFlt64) })
}

// TestViewAccessor_BulkMatchesTyped checks that bulk and single calls agree
// on the same bytes.
func TestViewAccessor_BulkMatchesTyped(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1})
	va := accessor.New(m, binary.BigEndian)
	src := values[uint64](100, 7)
	off := int64(cs - 8*50 + 3)
	if err := va.WriteUint64s(off, src); err != nil {
		t.Fatal(err)
	}
	for i, want := range src {
		if got, err := va.ReadUint64(off + 8*int64(i)); err != nil || got != want {
			t.Fatalf("ReadUint64(%d) = %#x, %v, want %#x", off+8*int64(i), got, err, want)
		}
	}
}
