package accessor_test

// This file checks claims of the package's doc comments (go doc -all) that
// no other test pins down as third-party code would read them: the edges of
// each call, what an error leaves behind, and the calls of a nil Manager, a
// nil View and a zero Scanner. Each test names the doc comment it checks.

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// dcAccessor opens a dataset of 64 KiB chunks holding 3*cs+100 bytes of
// fill's pattern, its first chunk dropped, and returns a little-endian
// accessor of it with Start and Size.
func dcAccessor(t *testing.T) (va *accessor.ViewAccessor, m *chunkmap.Manager, start, size int64) {
	t.Helper()
	m = newTestManager(t, nil)
	size = 3*cs + 100
	fill(t, m, 0, int(size))
	if err := m.DropBefore(cs); err != nil {
		t.Fatalf("DropBefore: %v", err)
	}
	return accessor.New(m, nil), m, cs, size
}

// dcWant is the byte fill wrote at off.
func dcWant(off int64) byte { return byte(off % 251) }

// TestDocContract_NilManager: New: "A nil m gives an accessor of a closed
// Manager, whose every call returns chunkmap.ErrClosed".
func TestDocContract_NilManager(t *testing.T) {
	va := accessor.New(nil, nil)
	calls := map[string]func() error{
		"ReadAt":      func() error { _, err := va.ReadAt(make([]byte, 1), 0); return err },
		"WriteAt":     func() error { _, err := va.WriteAt([]byte{1}, 0); return err },
		"ReadUint64":  func() error { _, err := va.ReadUint64(0); return err },
		"WriteUint16": func() error { return va.WriteUint16(0, 1) },
		"ReadInt32s":  func() error { return va.ReadUint32s(0, make([]uint32, 2)) },
		"WriteInt64s": func() error { return va.WriteFloat64s(0, []float64{1}) },
		"ReadAtMany":  func() error { return va.ReadUint64sAt([]int64{0}, make([]uint64, 1)) },
		"WriteAtMany": func() error { return va.WriteUint32sAt([]int64{0}, []uint32{1}) },
		"LoadUint32":  func() error { _, err := va.LoadUint32(0); return err },
		"AddUint64":   func() error { _, err := va.AddUint64(0, 1); return err },
		"Slice":       func() error { _, err := va.Slice(0, 1); return err },
		"Batch":       func() error { return va.Batch(func(*accessor.Batch) error { return nil }) },
		"Scan": func() error {
			s := va.Scan()
			for range s.Uint64s(0, 1) {
				t.Error("a scan of a nil Manager yielded a value")
			}
			return s.Err()
		},
	}
	for name, do := range calls {
		if err := do(); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s of New(nil, nil) = %v, want ErrClosed", name, err)
		}
	}
}

// TestDocContract_ZeroScanner: "the zero Scanner has no dataset, and its
// scans yield nothing and leave an error matching chunkmap.ErrClosed in
// Err".
func TestDocContract_ZeroScanner(t *testing.T) {
	var s accessor.Scanner
	for range s.Uint64s(0, 1) {
		t.Error("the zero Scanner yielded a value")
	}
	for range s.Blocks(0, 1) {
		t.Error("the zero Scanner yielded a block")
	}
	if err := s.Err(); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("zero Scanner: Err() = %v, want ErrClosed", err)
	}
}

// TestDocContract_NilView: View.Bytes "returns nil once Release has been
// called, and on a nil View", with "length and capacity n" before; Off
// returns the first byte's offset "before and after Release, or 0 on a nil
// View"; Release of a nil View, or twice, does nothing.
func TestDocContract_NilView(t *testing.T) {
	va, m, start, _ := dcAccessor(t)
	var nilv *accessor.View
	nilv.Release()
	if nilv.Bytes() != nil || nilv.Off() != 0 {
		t.Errorf("nil View: Bytes %v, Off %d, want nil, 0", nilv.Bytes(), nilv.Off())
	}
	off := int64(2*cs - 3)
	w, err := va.Slice(off, 6)
	if err != nil {
		t.Fatal(err)
	}
	b := w.Bytes()
	if len(b) != 6 || cap(b) != 6 || w.Off() != off {
		t.Errorf("Slice(%d, 6): len %d, cap %d, Off %d, want 6, 6, %d", off, len(b), cap(b), w.Off(), off)
	}
	for i, x := range b {
		if x != dcWant(off+int64(i)) {
			t.Errorf("Slice(%d, 6): byte %d = %d, want %d", off, i, x, dcWant(off+int64(i)))
		}
	}
	if st := m.Stats(); st.Pinned < 2 {
		t.Errorf("a View across two chunks: Stats().Pinned %d, want at least 2", st.Pinned)
	}
	w.Release()
	w.Release()
	if w.Bytes() != nil || w.Off() != off {
		t.Errorf("released View: Bytes %v, Off %d, want nil, %d", w.Bytes(), w.Off(), off)
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after Release: Stats().Pinned %d, want 0", st.Pinned)
	}
	// A failed Slice returns a nil View, whose Release does nothing.
	w, err = va.Slice(start-1, 2)
	if !errors.Is(err, chunkmap.ErrOutOfRange) || w != nil {
		t.Errorf("Slice below Start = %v, %v, want nil, ErrOutOfRange", w, err)
	}
	w.Release()
}

// TestDocContract_SliceRange: Slice: "The range must lie within [Start,
// Size) ... A negative n, a negative offset and an end that overflows are
// out of range too"; up to the whole dataset.
func TestDocContract_SliceRange(t *testing.T) {
	va, _, start, size := dcAccessor(t)
	tests := []struct {
		name string
		off  int64
		n    int
		ok   bool
	}{
		{"whole dataset", start, int(size - start), true},
		{"empty at start", start, 0, true},
		{"last byte", size - 1, 1, true},
		{"below start", start - 1, 1, false},
		{"past size", size - 1, 2, false},
		{"negative n", start, -1, false},
		{"negative offset", -8, 4, false},
		{"end overflows", math.MaxInt64 - 2, 4, false},
		{"MinInt64", math.MinInt64, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := va.Slice(tc.off, tc.n)
			if tc.ok {
				if err != nil || len(w.Bytes()) != tc.n {
					t.Errorf("Slice(%d, %d) = %d bytes, %v, want %d, nil", tc.off, tc.n, len(w.Bytes()), err, tc.n)
				}
				w.Release()
				return
			}
			if !errors.Is(err, chunkmap.ErrOutOfRange) || w != nil {
				t.Errorf("Slice(%d, %d) = %v, %v, want nil, ErrOutOfRange", tc.off, tc.n, w, err)
			}
		})
	}
}

// TestDocContract_BulkReadUntouched: ReadUint64s: out of range, it
// "returns an error matching chunkmap.ErrOutOfRange and leaves dst
// untouched"; a range whose byte length overflows is out of range too.
func TestDocContract_BulkReadUntouched(t *testing.T) {
	va, _, start, size := dcAccessor(t)
	tests := []struct {
		name string
		off  int64
		n    int
	}{
		{"across size", size - 12, 2},
		{"below start", start - 8, 2},
		{"negative", -8, 1},
		{"end overflows", math.MaxInt64 - 8, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d64 := []uint64{7, 7}[:tc.n]
			if err := va.ReadUint64s(tc.off, d64); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("ReadUint64s(%d, %d) = %v, want ErrOutOfRange", tc.off, tc.n, err)
			}
			d16 := []uint16{7, 7, 7, 7, 7, 7, 7, 7}[:4*tc.n]
			if err := va.ReadUint16s(tc.off, d16); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("ReadUint16s(%d, %d) = %v, want ErrOutOfRange", tc.off, 4*tc.n, err)
			}
			for _, x := range d64 {
				if x != 7 {
					t.Errorf("ReadUint64s(%d, %d) out of range changed dst: %v", tc.off, tc.n, d64)
					break
				}
			}
		})
	}
}

// TestDocContract_TypedEdges: typed reads "If [off, off+8) is not wholly
// inside [Start, Size) ... ErrOutOfRange"; a typed write extends Size "to
// off+8 if that is past it"; straddling values are assembled from both
// chunks, in the accessor's byte order.
func TestDocContract_TypedEdges(t *testing.T) {
	_, m, start, size := dcAccessor(t)
	be := accessor.New(m, binary.BigEndian)
	le := accessor.New(m, nil)
	for _, off := range []int64{start - 4, size - 7, size, -8, math.MaxInt64 - 3} {
		if _, err := be.ReadUint64(off); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadUint64(%d) = %v, want ErrOutOfRange", off, err)
		}
	}
	off := int64(2*cs - 3)
	var want [8]byte
	for i := range want {
		want[i] = dcWant(off + int64(i))
	}
	if x, err := be.ReadUint64(off); x != binary.BigEndian.Uint64(want[:]) || err != nil {
		t.Errorf("big-endian ReadUint64(%d) across chunks = %#x, %v, want %#x", off, x, err, binary.BigEndian.Uint64(want[:]))
	}
	if x, err := le.ReadUint64(off); x != binary.LittleEndian.Uint64(want[:]) || err != nil {
		t.Errorf("little-endian ReadUint64(%d) across chunks = %#x, %v, want %#x", off, x, err, binary.LittleEndian.Uint64(want[:]))
	}
	if err := be.WriteUint64(size+5, 0x0102030405060708); err != nil {
		t.Fatal(err)
	}
	if m.Size() != size+13 {
		t.Errorf("after WriteUint64 past Size: Size %d, want %d", m.Size(), size+13)
	}
	if x, err := le.ReadUint64(size + 5); x != 0x0807060504030201 || err != nil {
		t.Errorf("little-endian read of a big-endian write = %#x, %v", x, err)
	}
	for i := size; i < size+5; i++ {
		if b, err := le.ReadUint8(i); b != 0 || err != nil {
			t.Errorf("gap byte %d = %d, %v, want 0, nil", i, b, err)
		}
	}
	if err := be.WriteUint64(start-1, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("WriteUint64 across Start = %v, want ErrOutOfRange", err)
	}
}

// TestDocContract_GatherScatter: ReadUint64sAt "len(dst) must be at least
// len(offs)", fills dst for earlier offsets before ErrOutOfRange;
// WriteUint64sAt "does not extend Size" and has written the values for
// earlier offsets on an error; short slices are errors, not panics.
func TestDocContract_GatherScatter(t *testing.T) {
	va, m, start, size := dcAccessor(t)
	offs := []int64{start, 2*cs - 4, size - 8, size - 4, start + 64}
	dst := make([]uint64, len(offs))
	if err := va.ReadUint64sAt(offs, dst); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Fatalf("ReadUint64sAt with a value past Size = %v, want ErrOutOfRange", err)
	}
	for k, off := range offs[:3] {
		if x, _ := va.ReadUint64(off); dst[k] != x {
			t.Errorf("ReadUint64sAt: dst[%d] = %#x, want %#x", k, dst[k], x)
		}
	}
	src := []uint64{1, 2, 3, 4, 5}
	if err := va.WriteUint64sAt(offs, src); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Fatalf("WriteUint64sAt with a value past Size = %v, want ErrOutOfRange", err)
	}
	// Value 3 is the offending one; value 4 comes after it.
	for k, off := range offs {
		if k == 3 {
			continue
		}
		x, err := va.ReadUint64(off)
		if err != nil {
			t.Fatal(err)
		}
		if wrote := k < 3; wrote != (x == src[k]) {
			t.Errorf("WriteUint64sAt: value %d at %d = %#x, written %v, want %v", k, off, x, !wrote, wrote)
		}
	}
	if m.Size() != size {
		t.Errorf("after WriteUint64sAt: Size %d, want %d", m.Size(), size)
	}
	if err := va.ReadUint64sAt(offs[:2], make([]uint64, 1)); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("ReadUint64sAt with a short dst = %v, want ErrOutOfRange", err)
	}
	if err := va.WriteUint32sAt(offs[:2], make([]uint32, 1)); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("WriteUint32sAt with a short src = %v, want ErrOutOfRange", err)
	}
}

// TestDocContract_ReaderAt: ReadAt "implements io.ReaderAt exactly as
// chunkmap.Manager.ReadAt does", io.EOF bare at Size; io.NewSectionReader
// and io.NewOffsetWriter work over a ViewAccessor.
func TestDocContract_ReaderAt(t *testing.T) {
	va, m, start, size := dcAccessor(t)
	p := make([]byte, 10)
	if n, err := va.ReadAt(p, size-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt across Size = %d, %v, want 4, io.EOF", n, err)
	}
	if n, err := va.ReadAt(p, start-1); n != 0 || !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("ReadAt below Start = %d, %v, want 0, ErrOutOfRange", n, err)
	}
	if n, err := va.ReadAt(nil, size+100); n != 0 || err != nil {
		t.Errorf("zero-length ReadAt past Size = %d, %v, want 0, nil", n, err)
	}
	w := io.NewOffsetWriter(va, size)
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(va, size, 10))
	if err != nil || string(got) != "abc" || m.Size() != size+3 {
		t.Errorf("section after an offset write = %q, %v, Size %d, want \"abc\", nil, %d", got, err, m.Size(), size+3)
	}
}

// TestDocContract_Scanner: a scan of n = 0 values "yields nothing"; a range
// outside [Start, Size) yields nothing and Err matches ErrOutOfRange; "The
// first error sticks: once a Scanner holds one, each of its scans yields
// nothing more"; Blocks yields "one block per chunk the range covers".
func TestDocContract_Scanner(t *testing.T) {
	va, _, start, size := dcAccessor(t)
	s := va.Scan()
	for range s.Uint32s(start, 0) {
		t.Error("a scan of 0 values yielded")
	}
	var offs []int64
	for off, b := range s.Blocks(start+10, size-start-20) {
		offs = append(offs, off)
		if len(b) == 0 || b[0] != dcWant(off) {
			t.Errorf("block at %d: %d bytes, first %v", off, len(b), b[:min(1, len(b))])
		}
	}
	if want := []int64{start + 10, 2 * cs, 3 * cs}; !bytesEqual64(offs, want) {
		t.Errorf("Blocks yielded blocks at %v, want %v", offs, want)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err after good scans: %v", err)
	}
	for _, tc := range []struct {
		off int64
		n   int
	}{{size - 8, 2}, {start - 8, 1}, {start, -1}, {math.MaxInt64 - 8, 2}} {
		s := va.Scan()
		for range s.Uint64s(tc.off, tc.n) {
			t.Errorf("Uint64s(%d, %d) out of range yielded", tc.off, tc.n)
		}
		if err := s.Err(); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Uint64s(%d, %d): Err = %v, want ErrOutOfRange", tc.off, tc.n, err)
		}
		for range s.Uint16s(start, 1) {
			t.Error("a Scanner holding an error yielded on its next scan")
		}
		for range s.Blocks(start, 1) {
			t.Error("a Scanner holding an error yielded a block on its next scan")
		}
	}
	s = va.Scan()
	for range s.Blocks(start, -1) {
		t.Error("Blocks of a negative length yielded")
	}
	if !errors.Is(s.Err(), chunkmap.ErrOutOfRange) {
		t.Errorf("Blocks of a negative length: Err = %v, want ErrOutOfRange", s.Err())
	}
}

func bytesEqual64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDocContract_Batch: a Batch "does not extend the dataset": reads and
// writes outside [Start, Size) are ErrOutOfRange; fn's error comes back as
// it is; a Batch used after its function returns is ErrClosed.
func TestDocContract_Batch(t *testing.T) {
	va, m, start, size := dcAccessor(t)
	mine := errors.New("mine")
	var kept *accessor.Batch
	err := va.Batch(func(b *accessor.Batch) error {
		kept = b
		if err := b.WriteUint32(size-2, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Batch.WriteUint32 across Size = %v, want ErrOutOfRange", err)
		}
		if _, err := b.ReadInt16(start - 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Batch.ReadInt16 across Start = %v, want ErrOutOfRange", err)
		}
		if err := b.WriteFloat64(2*cs-4, 1.5); err != nil {
			t.Errorf("Batch.WriteFloat64 across chunks: %v", err)
		}
		if x, err := b.ReadFloat64(2*cs - 4); x != 1.5 || err != nil {
			t.Errorf("Batch.ReadFloat64 across chunks = %v, %v, want 1.5, nil", x, err)
		}
		return mine
	})
	if err != mine {
		t.Errorf("Batch = %v, want fn's error itself", err)
	}
	if m.Size() != size {
		t.Errorf("after the Batch: Size %d, want %d", m.Size(), size)
	}
	if _, err := kept.ReadUint8(start); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch.ReadUint8 after fn returned = %v, want ErrClosed", err)
	}
	if err := kept.WriteUint64(start, 1); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch.WriteUint64 after fn returned = %v, want ErrClosed", err)
	}
	if x, err := va.ReadFloat64(2*cs - 4); x != 1.5 || err != nil {
		t.Errorf("ReadFloat64 of the Batch's store = %v, %v, want 1.5, nil", x, err)
	}
}

// TestDocContract_BatchAllocs: ViewAccessor.Batch: "Opening a Batch
// allocates; the calls inside it do not", in every byte order: a custom
// order, whose calls through the ViewAccessor cost an allocation each (see
// the package doc), converts its values in a Batch without one.
func TestDocContract_BatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not representative under -race (see TestAllocs)")
	}
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 4, NoAdmission: true})
	fill(t, m, 0, 2*cs)
	for _, o := range advOrders {
		va := accessor.New(m, o.order)
		err := va.Batch(func(b *accessor.Batch) error {
			for _, tc := range []struct {
				name string
				fn   func()
			}{
				{"ReadUint64/pos=inside", func() { b.ReadUint64(8) }},
				{"ReadUint64/pos=straddle", func() { b.ReadUint64(cs - 3) }},
				{"ReadInt16/pos=straddle", func() { b.ReadInt16(cs - 1) }},
				{"ReadFloat32/pos=inside", func() { b.ReadFloat32(cs + 100) }},
				{"WriteUint64/pos=inside", func() { b.WriteUint64(16, 7) }},
				{"WriteUint64/pos=straddle", func() { b.WriteUint64(cs-5, 7) }},
				{"WriteUint32/pos=straddle", func() { b.WriteUint32(cs-2, 7) }},
				{"WriteInt16/pos=inside", func() { b.WriteInt16(cs+200, -7) }},
			} {
				tc.fn() // reach the chunks first
				if got := testing.AllocsPerRun(50, tc.fn); got != 0 {
					t.Errorf("order %s: Batch.%s: %v allocs/op, want 0", o.name, tc.name, got)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDocContract_GatherScatterOrders: ReadUint32sAt and WriteUint32sAt, in
// every byte order (the non-native ones go through a buffer 256 values at a
// time), fill dst, or write, "for earlier offsets" and nothing from the
// offending one on, also when it lies pieces into the call.
func TestDocContract_GatherScatterOrders(t *testing.T) {
	m := newTestManager(t, nil)
	size := int64(3*cs + 100)
	fill(t, m, 0, int(size))
	const bad = 520 // in the third piece of 256
	offs := make([]int64, 600)
	for i := range offs {
		offs[i] = int64(i) * 300 // some straddle a chunk boundary
	}
	offs[bad] = size - 2
	for _, o := range advOrders {
		t.Run(o.name, func(t *testing.T) {
			va := accessor.New(m, o.order)
			want := make([]uint32, len(offs))
			for k, off := range offs[:bad] {
				x, err := va.ReadUint32(off)
				if err != nil {
					t.Fatal(err)
				}
				want[k] = x
			}
			dst := make([]uint32, len(offs))
			for k := range dst {
				dst[k] = 0xdeadbeef
			}
			if err := va.ReadUint32sAt(offs, dst); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Fatalf("ReadUint32sAt with offset %d past Size = %v, want ErrOutOfRange", offs[bad], err)
			}
			for k := range dst {
				if k < bad && dst[k] != want[k] || k >= bad && dst[k] != 0xdeadbeef {
					t.Fatalf("ReadUint32sAt: dst[%d] = %#x (offending value %d)", k, dst[k], bad)
				}
			}
			src := make([]uint32, len(offs))
			for k := range src {
				src[k] = uint32(k+1) * 0x01010101
			}
			if err := va.WriteUint32sAt(offs, src); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Fatalf("WriteUint32sAt with offset %d past Size = %v, want ErrOutOfRange", offs[bad], err)
			}
			for k, off := range offs {
				if k == bad {
					continue
				}
				x, err := va.ReadUint32(off)
				if err != nil {
					t.Fatal(err)
				}
				if wrote := x == src[k]; wrote != (k < bad) {
					t.Fatalf("WriteUint32sAt: value %d written %v, want %v (offending value %d)", k, wrote, k < bad, bad)
				}
			}
			fill(t, m, 0, int(size))
		})
	}
}
