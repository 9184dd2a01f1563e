package accessor_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestGather writes and reads values at random offsets, straddling chunk
// boundaries included, through the gather and scatter calls, under LRU
// pressure, and checks them against single typed calls.
func TestGather(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian, swapOrder{}} {
		t.Run(fmt.Sprintf("order=%v", order), func(t *testing.T) {
			m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			const size = 8 * 64 << 10
			if err := m.Truncate(size); err != nil {
				t.Fatal(err)
			}
			v := accessor.New(m, order)
			r := rand.New(rand.NewPCG(3, 4))
			offs := make([]int64, 1000)
			seen := map[int64]bool{}
			for i := range offs {
				for {
					off := r.Int64N(size - 8)
					if i < 60 && i%10 == 0 { // straddle each of six boundaries
						off = (1+int64(i/10))*(64<<10) - 1 - r.Int64N(7)
					}
					ok := true
					for d := int64(-7); d <= 7; d++ { // values must not overlap
						ok = ok && !seen[off+d]
					}
					if ok {
						seen[off] = true
						offs[i] = off
						break
					}
				}
			}
			src := make([]uint64, len(offs))
			for i := range src {
				src[i] = r.Uint64()
			}
			if err := v.WriteUint64sAt(offs, src); err != nil {
				t.Fatal(err)
			}
			for i, off := range offs {
				if got, err := v.ReadUint64(off); err != nil || got != src[i] {
					t.Fatalf("ReadUint64(%d) = %#x, %v; want %#x", off, got, err, src[i])
				}
			}
			dst := make([]uint64, len(offs))
			if err := v.ReadUint64sAt(offs, dst); err != nil {
				t.Fatal(err)
			}
			for i := range dst {
				if dst[i] != src[i] {
					t.Fatalf("ReadUint64sAt value %d at %d = %#x, want %#x", i, offs[i], dst[i], src[i])
				}
			}
			d32 := make([]uint32, len(offs))
			if err := v.ReadUint32sAt(offs, d32); err != nil {
				t.Fatal(err)
			}
			for i, off := range offs {
				want, _ := v.ReadUint32(off)
				if d32[i] != want {
					t.Fatalf("ReadUint32sAt at %d = %#x, want %#x", off, d32[i], want)
				}
			}
			if err := v.WriteUint32sAt(offs[:3], []uint32{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			if got, _ := v.ReadUint32(offs[2]); got != 3 {
				t.Fatalf("after WriteUint32sAt: %d, want 3", got)
			}
		})
	}
}

func TestGather_Errors(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(1000); err != nil {
		t.Fatal(err)
	}
	v := accessor.New(m, nil)
	dst := make([]uint64, 3)
	for _, tc := range []struct {
		name string
		offs []int64
	}{
		{"past size", []int64{0, 8, 993}},
		{"negative", []int64{0, -8}},
		{"huge", []int64{1 << 62}},
		{"overflow", []int64{1<<63 - 4}},
	} {
		if err := v.ReadUint64sAt(tc.offs, dst); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("%s: ReadUint64sAt = %v, want ErrOutOfRange", tc.name, err)
		}
		if err := v.WriteUint64sAt(tc.offs, dst); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("%s: WriteUint64sAt = %v, want ErrOutOfRange", tc.name, err)
		}
	}
	short := []struct {
		name string
		do   func() error
		says string // what the message says of the counts
	}{
		{"ReadUint64sAt", func() error { return v.ReadUint64sAt([]int64{0, 8}, dst[:1]) }, "at 2 offsets in " + m.Dir() + ": chunkmap: offset out of range: room for 1 value"},
		{"WriteUint64sAt", func() error { return v.WriteUint64sAt([]int64{0, 8, 16}, dst[:2]) }, "at 3 offsets in " + m.Dir() + ": chunkmap: offset out of range: room for 2 values"},
		{"ReadUint32sAt", func() error { return v.ReadUint32sAt([]int64{0}, nil) }, "at 1 offset in " + m.Dir() + ": chunkmap: offset out of range: room for 0 values"},
		{"WriteUint32sAt", func() error { return v.WriteUint32sAt([]int64{0, 8}, nil) }, "at 2 offsets in " + m.Dir() + ": chunkmap: offset out of range: room for 0 values"},
	}
	for _, c := range short {
		err := c.do()
		if !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("%s with fewer values than offsets: %v, want ErrOutOfRange", c.name, err)
		} else if !strings.HasSuffix(err.Error(), c.says) {
			t.Errorf("%s with fewer values than offsets: %q, want it to end %q", c.name, err, c.says)
		}
	}
	if m.Size() != 1000 {
		t.Errorf("Size = %d after refused scatters, want 1000", m.Size())
	}
	m.Close()
	if err := v.ReadUint64sAt([]int64{0}, dst); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	// A closed Manager is reported whatever the arguments, as by every call
	// after Close.
	for _, c := range short {
		if err := c.do(); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s with fewer values than offsets after Close: %v, want ErrClosed", c.name, err)
		}
	}
}

// TestGather_ErrorKeepsLaterValues gathers offsets of which the third is
// past Size, in every kind of byte order, and in more than one piece: the
// values before it must be read and decoded, and the values from it on must
// be what dst held (they were once byte-swapped in place in an order other
// than the machine's).
func TestGather_ErrorKeepsLaterValues(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian, swapOrder{}} {
		t.Run(fmt.Sprintf("order=%v", order), func(t *testing.T) {
			m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			v := accessor.New(m, order)
			const n = 600 // more than one piece of 256
			for i := range n {
				if err := v.WriteUint64(int64(8*i), uint64(1000+i)); err != nil {
					t.Fatal(err)
				}
			}
			const sentinel = 0x0102030405060708
			for _, bad := range []int{2, 300} {
				offs := make([]int64, n)
				for i := range offs {
					offs[i] = int64(8 * i)
				}
				offs[bad] = 1 << 40
				dst := make([]uint64, n)
				for i := range dst {
					dst[i] = sentinel
				}
				if err := v.ReadUint64sAt(offs, dst); !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Fatalf("failing at %d: ReadUint64sAt = %v, want ErrOutOfRange", bad, err)
				}
				for i, x := range dst {
					if want := uint64(1000 + i); i < bad && x != want {
						t.Fatalf("failing at %d: dst[%d] = %#x, want %#x", bad, i, x, want)
					} else if i >= bad && x != sentinel {
						t.Fatalf("failing at %d: dst[%d] = %#x, want it untouched (%#x)", bad, i, x, uint64(sentinel))
					}
				}
			}
		})
	}
}

// TestGather_EmptyReportsState gathers and scatters no values in every
// kind of byte order: a closed Manager, and a scatter through a read-only
// one, must be reported as the machine's order reports them (through
// Manager.Gather and Scatter), not pass because there was nothing to
// convert (found by FuzzAccess: ReadUint32sAt of no offsets in big endian
// after Close returned nil).
func TestGather_EmptyReportsState(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(1000); err != nil {
		t.Fatal(err)
	}
	orders := []binary.ByteOrder{binary.NativeEndian, binary.LittleEndian, binary.BigEndian, swapOrder{}}
	calls := func(v *accessor.ViewAccessor) []struct {
		name  string
		write bool
		do    func() error
	} {
		return []struct {
			name  string
			write bool
			do    func() error
		}{
			{"ReadUint64sAt", false, func() error { return v.ReadUint64sAt(nil, nil) }},
			{"ReadUint32sAt", false, func() error { return v.ReadUint32sAt([]int64{}, make([]uint32, 2)) }},
			{"WriteUint64sAt", true, func() error { return v.WriteUint64sAt(nil, nil) }},
			{"WriteUint32sAt", true, func() error { return v.WriteUint32sAt([]int64{}, make([]uint32, 2)) }},
		}
	}
	for _, order := range orders {
		for _, c := range calls(accessor.New(m, order)) {
			if err := c.do(); err != nil {
				t.Errorf("%s of no values (%v) on an open Manager: %v, want nil", c.name, order, err)
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, order := range orders {
		for _, c := range calls(accessor.New(m, order)) {
			if err := c.do(); !errors.Is(err, chunkmap.ErrClosed) {
				t.Errorf("%s of no values (%v) after Close: %v, want ErrClosed", c.name, order, err)
			}
		}
	}
	ro, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, order := range orders {
		for _, c := range calls(accessor.New(ro, order)) {
			err := c.do()
			switch {
			case c.write && !errors.Is(err, chunkmap.ErrReadOnly):
				t.Errorf("%s of no values (%v) on a read-only Manager: %v, want ErrReadOnly", c.name, order, err)
			case !c.write && err != nil:
				t.Errorf("%s of no values (%v) on a read-only Manager: %v, want nil", c.name, order, err)
			}
		}
	}
}
