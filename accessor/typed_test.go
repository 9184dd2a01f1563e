package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// typeCase describes one fixed-size type through its bit pattern: write
// stores the value whose bits are x (truncated to size bytes), read returns
// the bits of the value it read.
type typeCase struct {
	name  string
	size  int
	write func(va *accessor.ViewAccessor, off int64, x uint64) error
	read  func(va *accessor.ViewAccessor, off int64) (uint64, error)
}

var typeCases = []typeCase{
	{"Uint8", 1,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint8(off, uint8(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadUint8(off)
			return uint64(v), err
		}},
	{"Int8", 1,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt8(off, int8(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadInt8(off)
			return uint64(uint8(v)), err
		}},
	{"Uint16", 2,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint16(off, uint16(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadUint16(off)
			return uint64(v), err
		}},
	{"Int16", 2,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt16(off, int16(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadInt16(off)
			return uint64(uint16(v)), err
		}},
	{"Uint32", 4,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint32(off, uint32(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadUint32(off)
			return uint64(v), err
		}},
	{"Int32", 4,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt32(off, int32(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadInt32(off)
			return uint64(uint32(v)), err
		}},
	{"Uint64", 8,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint64(off, x) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) { return va.ReadUint64(off) }},
	{"Int64", 8,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt64(off, int64(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadInt64(off)
			return uint64(v), err
		}},
	{"Float32", 4,
		func(va *accessor.ViewAccessor, off int64, x uint64) error {
			return va.WriteFloat32(off, math.Float32frombits(uint32(x)))
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadFloat32(off)
			return uint64(math.Float32bits(v)), err
		}},
	{"Float64", 8,
		func(va *accessor.ViewAccessor, off int64, x uint64) error {
			return va.WriteFloat64(off, math.Float64frombits(x))
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			v, err := va.ReadFloat64(off)
			return math.Float64bits(v), err
		}},
}

// encode returns x's low size bytes as encoding/binary lays them out.
func encode(order binary.ByteOrder, size int, x uint64) []byte {
	b := make([]byte, size)
	switch size {
	case 1:
		b[0] = byte(x)
	case 2:
		order.PutUint16(b, uint16(x))
	case 4:
		order.PutUint32(b, uint32(x))
	case 8:
		order.PutUint64(b, x)
	}
	return b
}

// roundTripOffsets returns offset 0, one mid-chunk and every offset 1..size
// bytes before the first two chunk boundaries.
func roundTripOffsets(size int) []int64 {
	offs := []int64{0, cs/2 + 3}
	for _, boundary := range []int64{cs, 2 * cs} {
		for k := int64(size); k >= 1; k-- {
			offs = append(offs, boundary-k)
		}
	}
	return offs
}

// TestViewAccessor_RoundTrip writes and reads back every type, in both byte
// orders, at offset 0, mid-chunk and every offset that puts the value
// against or across a chunk boundary, with MaxMapped 1 and 2. Before each
// access a third chunk is touched, so with MaxMapped 1 the two halves of a
// straddling value are never mapped together by accident. The bytes read
// back through ReadAt must be encoding/binary's layout of the value, and the
// bytes around it must be untouched.
func TestViewAccessor_RoundTrip(t *testing.T) {
	for _, maxMapped := range []int{1, 2} {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			t.Run(fmt.Sprintf("maxmapped=%d/order=%v", maxMapped, order), func(t *testing.T) {
				m := newTestManager(t, &chunkmap.Options{MaxMapped: maxMapped, NoAdmission: true})
				va := accessor.New(m, order)
				orig := fill(t, m, 0, 3*cs)
				evict := func() {
					t.Helper()
					if _, err := m.ReadAt(make([]byte, 1), 2*cs+cs/2); err != nil {
						t.Fatal(err)
					}
				}
				for i, tc := range typeCases {
					// Every byte differs, and differs from the fill.
					x := uint64(0x8192a3b4c5d6e7f8) ^ uint64(i)
					for _, off := range roundTripOffsets(tc.size) {
						evict()
						if err := tc.write(va, off, x); err != nil {
							t.Fatalf("Write%s(%d): %v", tc.name, off, err)
						}
						evict()
						got, err := tc.read(va, off)
						want := x & (1<<(8*tc.size) - 1)
						if tc.size == 8 {
							want = x
						}
						if err != nil || got != want {
							t.Errorf("Read%s(%d) = %#x, %v, want %#x", tc.name, off, got, err, want)
						}
						evict()
						from := max(off-1, 0)
						raw := readBack(t, m, from, int(off-from)+tc.size+1)
						laid := raw[off-from : off-from+int64(tc.size)]
						if wantRaw := encode(order, tc.size, x); !bytes.Equal(laid, wantRaw) {
							t.Errorf("Write%s(%d) laid out % x, want % x (encoding/binary)", tc.name, off, laid, wantRaw)
						}
						if off > 0 && raw[0] != orig[off-1] {
							t.Errorf("Write%s(%d) changed the byte before it", tc.name, off)
						}
						if raw[len(raw)-1] != orig[off+int64(tc.size)] {
							t.Errorf("Write%s(%d) changed the byte after it", tc.name, off)
						}
						// Restore the fill for the next offset.
						if _, err := m.WriteAt(orig[off:off+int64(tc.size)], off); err != nil {
							t.Fatal(err)
						}
					}
				}
				if st := m.Stats(); maxMapped == 1 && st.Evictions == 0 {
					t.Errorf("no evictions with MaxMapped 1: %+v", st)
				}
			})
		}
	}
}

// TestViewAccessor_ReadPastSize checks that a typed read not wholly inside
// [Start, Size) returns ErrOutOfRange, never io.EOF, and that one wholly
// inside works right up to Size.
func TestViewAccessor_ReadPastSize(t *testing.T) {
	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	fill(t, m, 0, 2*cs+10)
	size := m.Size()
	for _, tc := range typeCases {
		k := int64(tc.size)
		if _, err := tc.read(va, size-k); err != nil {
			t.Errorf("Read%s(Size-%d): %v", tc.name, k, err)
		}
		for _, off := range []int64{size - k + 1, size, size + 100} {
			if k == 1 && off == size-k+1 {
				continue // that is Size itself, tested next
			}
			_, err := tc.read(va, off)
			if !errors.Is(err, chunkmap.ErrOutOfRange) || errors.Is(err, io.EOF) {
				t.Errorf("Read%s(%d) with Size %d = %v, want ErrOutOfRange and not io.EOF", tc.name, off, size, err)
			}
		}
	}
	// Below Start.
	if err := m.DropBefore(cs + 5); err != nil {
		t.Fatal(err)
	}
	for _, tc := range typeCases {
		if _, err := tc.read(va, cs-1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Read%s(%d) below Start %d = %v, want ErrOutOfRange", tc.name, cs-1, m.Start(), err)
		}
		if err := tc.write(va, cs-1, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Write%s(%d) below Start %d = %v, want ErrOutOfRange", tc.name, cs-1, m.Start(), err)
		}
		if _, err := tc.read(va, cs); err != nil {
			t.Errorf("Read%s(%d) at Start: %v", tc.name, cs, err)
		}
	}
}

// TestViewAccessor_WriteExtendsSize checks that a typed write past Size
// extends Size exactly like WriteAt, with zeros in the gap, across a chunk
// boundary too.
func TestViewAccessor_WriteExtendsSize(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	va := accessor.New(m, binary.BigEndian)
	for _, tc := range typeCases {
		size := m.Size()
		off := size + 3
		if tc.size > 1 {
			off = (size/cs+1)*cs - 1 // straddle the next boundary
		}
		if err := tc.write(va, off, 0xffffffffffffffff); err != nil {
			t.Fatalf("Write%s(%d) past Size %d: %v", tc.name, off, size, err)
		}
		if got, want := m.Size(), off+int64(tc.size); got != want {
			t.Errorf("Write%s(%d): Size = %d, want %d", tc.name, off, got, want)
		}
		gap := readBack(t, m, size, int(off-size))
		if !bytes.Equal(gap, make([]byte, len(gap))) {
			t.Errorf("Write%s(%d): the gap from old Size %d is not zero", tc.name, off, size)
		}
	}
}
