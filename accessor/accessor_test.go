package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// cs is the chunk size of every test dataset.
const cs = 64 << 10

// newTestManager opens a new dataset in a temporary directory, with 64 KiB
// chunks unless opts says otherwise. Its cleanup checks that no View or pin
// was leaked, then closes the Manager (unless the test did).
func newTestManager(t testing.TB, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	return openTestManager(t, t.TempDir(), opts)
}

// openTestManager opens the dataset in dir like newTestManager.
func openTestManager(t testing.TB, dir string, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	o := chunkmap.Options{ChunkSize: cs}
	if opts != nil {
		o = *opts
		if o.ChunkSize == 0 {
			o.ChunkSize = cs
		}
	}
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", dir, o, err)
	}
	t.Cleanup(func() {
		if st := m.Stats(); st.Pinned != 0 {
			t.Errorf("at cleanup: %d chunks still pinned (%+v)", st.Pinned, st)
		}
		if err := m.Close(); err != nil && !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// fill writes n bytes of a pattern that differs at every offset (mod 251)
// at off, and returns them.
func fill(t testing.TB, m *chunkmap.Manager, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((off + int64(i)) % 251)
	}
	if _, err := m.WriteAt(p, off); err != nil {
		t.Fatalf("WriteAt(%d bytes, %d): %v", n, off, err)
	}
	return p
}

// readBack returns the n bytes at off, read with the Manager's ReadAt.
func readBack(t testing.TB, m *chunkmap.Manager, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := m.ReadAt(p, off); err != nil {
		t.Fatalf("ReadAt(%d bytes, %d): %v", n, off, err)
	}
	return p
}

func TestNew_ByteOrder(t *testing.T) {
	m := newTestManager(t, nil)
	if err := accessor.New(m, nil).WriteUint32(0, 0x01020304); err != nil {
		t.Fatal(err)
	}
	if got, want := readBack(t, m, 0, 4), []byte{4, 3, 2, 1}; !bytes.Equal(got, want) {
		t.Errorf("nil order wrote % x, want % x (little endian)", got, want)
	}
	var native [4]byte
	binary.NativeEndian.PutUint32(native[:], 0x01020304)
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		want  []byte
	}{
		{"little", binary.LittleEndian, []byte{4, 3, 2, 1}},
		{"big", binary.BigEndian, []byte{1, 2, 3, 4}},
		{"native", binary.NativeEndian, native[:]},
		{"custom", swapOrder{}, []byte{1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			va := accessor.New(m, tc.order)
			if err := va.WriteUint32(8, 0x01020304); err != nil {
				t.Fatal(err)
			}
			if got := readBack(t, m, 8, 4); !bytes.Equal(got, tc.want) {
				t.Errorf("WriteUint32 wrote % x, want % x", got, tc.want)
			}
			if got, err := va.ReadUint32(8); err != nil || got != 0x01020304 {
				t.Errorf("ReadUint32(8) = %#x, %v, want 0x01020304", got, err)
			}
		})
	}
}

// swapOrder is a byte order that is not one of encoding/binary's values (it
// behaves like big endian), to exercise the custom-order path.
type swapOrder struct{}

func (swapOrder) Uint16(b []byte) uint16       { return binary.BigEndian.Uint16(b) }
func (swapOrder) Uint32(b []byte) uint32       { return binary.BigEndian.Uint32(b) }
func (swapOrder) Uint64(b []byte) uint64       { return binary.BigEndian.Uint64(b) }
func (swapOrder) PutUint16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func (swapOrder) PutUint32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
func (swapOrder) PutUint64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }
func (swapOrder) String() string               { return "swapOrder" }

func TestViewAccessor_ReadAtWriteAt(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	va := accessor.New(m, nil)
	p := []byte("straddles the first chunk boundary")
	off := int64(cs - 10)
	if n, err := va.WriteAt(p, off); n != len(p) || err != nil {
		t.Fatalf("WriteAt = %d, %v, want %d, nil", n, err, len(p))
	}
	if got, want := m.Size(), off+int64(len(p)); got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	got := make([]byte, len(p))
	if n, err := va.ReadAt(got, off); n != len(p) || err != nil || !bytes.Equal(got, p) {
		t.Errorf("ReadAt = %d, %v, %q, want %d, nil, %q", n, err, got, len(p), p)
	}
	// A short read at Size returns io.EOF itself, as io.ReaderAt requires.
	if n, err := va.ReadAt(make([]byte, 100), off); n != len(p) || err != io.EOF {
		t.Errorf("ReadAt past Size = %d, %v, want %d, io.EOF", n, err, len(p))
	}
}

// TestIOInterop checks that the standard library's section readers and
// offset writers work on a Manager and on a ViewAccessor.
func TestIOInterop(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	data := fill(t, m, 0, 3*cs)
	for _, tc := range []struct {
		name string
		rw   interface {
			io.ReaderAt
			io.WriterAt
		}
	}{
		{"manager", m},
		{"accessor", accessor.New(m, binary.BigEndian)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, n := int64(cs-1000), int64(cs+2000) // spans two boundaries
			if err := iotest.TestReader(io.NewSectionReader(tc.rw, off, n), data[off:off+n]); err != nil {
				t.Errorf("TestReader(NewSectionReader(%d, %d)): %v", off, n, err)
			}
			w := io.NewOffsetWriter(tc.rw, cs-3)
			msg := []byte("written through io.OffsetWriter")
			if _, err := w.Write(msg[:10]); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(msg[10:]); err != nil {
				t.Fatal(err)
			}
			if got := readBack(t, m, cs-3, len(msg)); !bytes.Equal(got, msg) {
				t.Errorf("after OffsetWriter: %q, want %q", got, msg)
			}
			copy(data[cs-3:], msg)
		})
	}
}

// TestAllocs checks that typed reads and writes on the hit path, inside a
// chunk and straddling a boundary, allocate nothing; so do atomics and bulk
// calls.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		// The race detector's instrumentation of the Manager's pread and
		// pwrite miss path (syscall.Pread and Pwrite report the buffer to
		// the detector) makes the buffer passed to ReadAt and WriteAt
		// escape, so every call allocates in a -race build.
		t.Skip("allocations are not representative under -race")
	}
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 4, NoAdmission: true})
	fill(t, m, 0, 2*cs)
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		va := accessor.New(m, order)
		u64s := make([]uint64, 1000)
		f32s := make([]float32, 1000)
		for _, tc := range []struct {
			name string
			fn   func()
		}{
			{"ReadUint64/pos=inside", func() { va.ReadUint64(64) }},
			{"ReadUint64/pos=straddle", func() { va.ReadUint64(cs - 3) }},
			{"WriteUint64/pos=inside", func() { va.WriteUint64(64, 7) }},
			{"WriteUint64/pos=straddle", func() { va.WriteUint64(cs-3, 7) }},
			{"ReadUint16", func() { va.ReadUint16(cs - 1) }},
			{"WriteInt32", func() { va.WriteInt32(cs-1, -7) }},
			{"ReadFloat64", func() { va.ReadFloat64(cs - 5) }},
			{"WriteFloat32", func() { va.WriteFloat32(9, 1.5) }},
			{"ReadInt8", func() { va.ReadInt8(cs) }},
			{"AddUint64", func() { va.AddUint64(cs+8, 1) }},
			{"CompareAndSwapUint32", func() { va.CompareAndSwapUint32(cs+4, 1, 2) }},
			{"LoadUint64", func() { va.LoadUint64(8) }},
			{"ReadUint64s", func() { va.ReadUint64s(cs-100, u64s) }},
			{"WriteFloat32s", func() { va.WriteFloat32s(cs-100, f32s) }},
		} {
			tc.fn() // map the chunks first
			if got := testing.AllocsPerRun(100, tc.fn); got != 0 {
				t.Errorf("%v: %s: %v allocs/op, want 0", order, tc.name, got)
			}
		}
	}
}

// TestBadInput calls every method with inputs it must refuse: each call
// returns an error matching the right sentinel, and none panics.
func TestBadInput(t *testing.T) {
	type call struct {
		name string
		fn   func(va *accessor.ViewAccessor, off int64) error
	}
	reads := []call{
		{"ReadUint8", func(va *accessor.ViewAccessor, off int64) error { _, err := va.ReadUint8(off); return err }},
		{"ReadInt16", func(va *accessor.ViewAccessor, off int64) error { _, err := va.ReadInt16(off); return err }},
		{"ReadUint32", func(va *accessor.ViewAccessor, off int64) error { _, err := va.ReadUint32(off); return err }},
		{"ReadFloat64", func(va *accessor.ViewAccessor, off int64) error { _, err := va.ReadFloat64(off); return err }},
		{"ReadUint64", func(va *accessor.ViewAccessor, off int64) error { _, err := va.ReadUint64(off); return err }},
		{"ReadUint64s", func(va *accessor.ViewAccessor, off int64) error { return va.ReadUint64s(off, make([]uint64, 3)) }},
		{"ReadFloat32s", func(va *accessor.ViewAccessor, off int64) error { return va.ReadFloat32s(off, make([]float32, 3)) }},
		{"LoadUint64", func(va *accessor.ViewAccessor, off int64) error { _, err := va.LoadUint64(off); return err }},
		{"LoadUint32", func(va *accessor.ViewAccessor, off int64) error { _, err := va.LoadUint32(off); return err }},
		{"Slice", func(va *accessor.ViewAccessor, off int64) error { return release(va.Slice(off, 8)) }},
	}
	atomicStores := []call{
		{"StoreUint64", func(va *accessor.ViewAccessor, off int64) error { return va.StoreUint64(off, 1) }},
		{"AddUint64", func(va *accessor.ViewAccessor, off int64) error { _, err := va.AddUint64(off, 1); return err }},
		{"CompareAndSwapUint64", func(va *accessor.ViewAccessor, off int64) error {
			_, err := va.CompareAndSwapUint64(off, 0, 1)
			return err
		}},
		{"StoreUint32", func(va *accessor.ViewAccessor, off int64) error { return va.StoreUint32(off, 1) }},
		{"AddUint32", func(va *accessor.ViewAccessor, off int64) error { _, err := va.AddUint32(off, 1); return err }},
		{"CompareAndSwapUint32", func(va *accessor.ViewAccessor, off int64) error {
			_, err := va.CompareAndSwapUint32(off, 0, 1)
			return err
		}},
	}
	// Writes are only given offsets that fail: a valid huge offset would
	// create every chunk file up to it.
	writes := []call{
		{"WriteUint8", func(va *accessor.ViewAccessor, off int64) error { return va.WriteUint8(off, 1) }},
		{"WriteInt16", func(va *accessor.ViewAccessor, off int64) error { return va.WriteInt16(off, 1) }},
		{"WriteFloat32", func(va *accessor.ViewAccessor, off int64) error { return va.WriteFloat32(off, 1) }},
		{"WriteUint64", func(va *accessor.ViewAccessor, off int64) error { return va.WriteUint64(off, 1) }},
		{"WriteUint64s", func(va *accessor.ViewAccessor, off int64) error { return va.WriteUint64s(off, make([]uint64, 3)) }},
		{"WriteFloat64s", func(va *accessor.ViewAccessor, off int64) error { return va.WriteFloat64s(off, make([]float64, 3)) }},
		{"WriteUint16s", func(va *accessor.ViewAccessor, off int64) error { return va.WriteUint16s(off, make([]uint16, 3)) }},
		{"WriteAt", func(va *accessor.ViewAccessor, off int64) error {
			_, err := va.WriteAt(make([]byte, 8), off)
			return err
		}},
	}

	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	fill(t, m, 0, 2*cs)
	size := m.Size()
	check := func(t *testing.T, c call, off int64, want error) {
		t.Helper()
		if w := atomicWidth(c.name); w > 0 && off > 0 {
			off &^= w - 1 // aligned: an unaligned offset is refused first
		}
		err := c.fn(va, off)
		if !errors.Is(err, want) {
			t.Errorf("%s(%d) = %v, want an error matching %v", c.name, off, err, want)
		}
	}
	t.Run("negative", func(t *testing.T) {
		for _, c := range append(append(reads, atomicStores...), writes...) {
			for _, off := range []int64{-1, -8, math.MinInt64} {
				check(t, c, off, chunkmap.ErrOutOfRange)
			}
		}
	})
	t.Run("huge", func(t *testing.T) {
		for _, c := range append(reads, atomicStores...) {
			for _, off := range []int64{size, size + 8, 1 << 40, math.MaxInt64 - 8, math.MaxInt64} {
				check(t, c, off, chunkmap.ErrOutOfRange)
			}
		}
	})
	t.Run("overflow", func(t *testing.T) {
		// off+size overflows int64 for every width (a 1-byte write at
		// MaxInt64 ends at MaxInt64+1).
		for _, c := range append(append(reads, atomicStores...), writes...) {
			check(t, c, math.MaxInt64, chunkmap.ErrOutOfRange)
		}
		// Every write but WriteUint8 is at least 2 bytes wide. (A write that
		// ends at MaxInt64 or below is valid, and would create every chunk
		// file up to there: never test one.)
		for _, c := range writes[1:] {
			check(t, c, math.MaxInt64-1, chunkmap.ErrOutOfRange)
		}
	})
	t.Run("past-size", func(t *testing.T) {
		// Calls that start inside [Start, Size) but end past Size, on a
		// dataset of 100 bytes: nothing is read and Size does not move.
		m := newTestManager(t, nil)
		va := accessor.New(m, nil)
		fill(t, m, 0, 100)
		for _, c := range append(reads, atomicStores...) {
			var off int64
			switch c.name {
			case "ReadUint8":
				off = 100
			case "LoadUint32", "StoreUint32", "AddUint32", "CompareAndSwapUint32":
				off = 100 // aligned, at Size
			default:
				off = 96 // aligned for 8-byte words; 4 bytes short
				switch c.name {
				case "ReadInt16":
					off = 99
				case "ReadUint32":
					off = 98
				}
			}
			if err := c.fn(va, off); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("%s(%d) with Size 100 = %v, want an error matching ErrOutOfRange", c.name, off, err)
			}
		}
		if got := m.Size(); got != 100 {
			t.Errorf("Size = %d after refused calls, want 100", got)
		}
	})
	t.Run("unaligned", func(t *testing.T) {
		for _, c := range append(reads[7:9], atomicStores...) {
			if c.name == "Slice" {
				continue
			}
			for off := int64(1); off < atomicWidth(c.name); off++ {
				if err := c.fn(va, cs+off); !errors.Is(err, chunkmap.ErrUnaligned) {
					t.Errorf("%s(%d) = %v, want an error matching ErrUnaligned", c.name, cs+off, err)
				}
			}
		}
	})
	t.Run("slice", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			off  int64
			n    int
		}{
			{"n<0", 0, -1},
			{"n=MinInt", 0, math.MinInt},
			{"past-size", size - 4, 8},
			{"overflow", math.MaxInt64 - 2, 8},
		} {
			if w, err := va.Slice(tc.off, tc.n); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("Slice(%d, %d) = %v, %v, want an error matching ErrOutOfRange", tc.off, tc.n, w, err)
				if w != nil {
					w.Release()
				}
			}
		}
	})
	t.Run("closed", func(t *testing.T) {
		m := newTestManager(t, nil)
		va := accessor.New(m, nil)
		fill(t, m, 0, 64)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		for _, c := range append(append(reads, atomicStores...), writes...) {
			check := func(off int64) {
				if err := c.fn(va, off); !errors.Is(err, chunkmap.ErrClosed) {
					t.Errorf("%s(%d) after Close = %v, want an error matching ErrClosed", c.name, off, err)
				}
			}
			check(0)
			check(16)
		}
	})
	t.Run("nil-manager", func(t *testing.T) {
		// New(nil) gives the accessor of a closed Manager, not one that
		// panics on its first call.
		va := accessor.New(nil, nil)
		for _, c := range append(append(reads, atomicStores...), writes...) {
			if err := c.fn(va, 0); !errors.Is(err, chunkmap.ErrClosed) || strings.Contains(err.Error(), " in :") {
				t.Errorf("%s(0) through New(nil) = %v, want an error matching ErrClosed that names no directory", c.name, err)
			}
		}
		sc := va.Scan()
		for range sc.Uint64s(0, 4) {
			t.Fatal("a scan through New(nil) yielded a value")
		}
		if err := sc.Err(); !errors.Is(err, chunkmap.ErrClosed) || strings.Contains(err.Error(), " in :") {
			t.Errorf("scan through New(nil): Err = %v, want an error matching ErrClosed that names no directory", err)
		}
	})
	t.Run("zero-accessor", func(t *testing.T) {
		// A zero ViewAccessor has no Manager: it acts for a closed one,
		// as New(nil)'s accessor does, and panics on no call.
		va := new(accessor.ViewAccessor)
		calls := append(append(reads, atomicStores...), writes...)
		calls = append(calls, []call{
			{"ReadAt", func(va *accessor.ViewAccessor, off int64) error {
				_, err := va.ReadAt(make([]byte, 8), off)
				return err
			}},
			{"WriteAt", func(va *accessor.ViewAccessor, off int64) error {
				_, err := va.WriteAt(make([]byte, 8), off)
				return err
			}},
			{"ReadUint64s", func(va *accessor.ViewAccessor, off int64) error { return va.ReadUint64s(off, make([]uint64, 2)) }},
			{"WriteFloat32s", func(va *accessor.ViewAccessor, off int64) error { return va.WriteFloat32s(off, make([]float32, 2)) }},
			{"ReadUint32sAt", func(va *accessor.ViewAccessor, off int64) error {
				return va.ReadUint32sAt([]int64{off}, make([]uint32, 1))
			}},
			{"WriteUint64sAt", func(va *accessor.ViewAccessor, off int64) error {
				return va.WriteUint64sAt([]int64{off}, make([]uint64, 1))
			}},
			{"Batch", func(va *accessor.ViewAccessor, off int64) error {
				return va.Batch(func(*accessor.Batch) error { return errors.New("the function of a zero accessor's Batch ran") })
			}},
			{"Blocks", func(va *accessor.ViewAccessor, off int64) error {
				sc := va.Scan()
				for range sc.Blocks(off, 8) {
					return errors.New("a block scan of a zero accessor yielded a block")
				}
				return sc.Err()
			}},
		}...)
		for _, c := range calls {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				err = c.fn(va, 0)
			}()
			if !errors.Is(err, chunkmap.ErrClosed) || strings.Contains(err.Error(), " in :") {
				t.Errorf("%s(0) on a zero ViewAccessor = %v, want an error matching ErrClosed that names no directory", c.name, err)
			}
		}
	})
	t.Run("zero-scanner", func(t *testing.T) {
		// The zero Scanner has no accessor: its scans yield nothing and
		// report ErrClosed, as a zero Batch's calls do, not panic.
		for _, scan := range []struct {
			name string
			run  func(s *accessor.Scanner)
		}{
			{"Uint64s", func(s *accessor.Scanner) {
				for range s.Uint64s(0, 4) {
					t.Fatal("the zero Scanner yielded a value")
				}
			}},
			{"Blocks", func(s *accessor.Scanner) {
				for range s.Blocks(0, 4) {
					t.Fatal("the zero Scanner yielded a block")
				}
			}},
		} {
			var s accessor.Scanner
			scan.run(&s)
			if err := s.Err(); !errors.Is(err, chunkmap.ErrClosed) {
				t.Errorf("%s of a zero Scanner: Err = %v, want an error matching ErrClosed", scan.name, err)
			}
		}
	})
	t.Run("read-only", func(t *testing.T) {
		dir := t.TempDir()
		w := openTestManager(t, dir, nil)
		fill(t, w, 0, 2*cs)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		m := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true})
		va := accessor.New(m, nil)
		for _, c := range append(atomicStores, writes...) {
			for _, off := range []int64{0, 8, cs - 8} {
				if err := c.fn(va, off); !errors.Is(err, chunkmap.ErrReadOnly) {
					t.Errorf("%s(%d) on a read-only Manager = %v, want an error matching ErrReadOnly", c.name, off, err)
				}
			}
		}
		// Reads work, and Views are read-only pins.
		for _, c := range reads {
			if err := c.fn(va, 16); err != nil {
				t.Errorf("%s(16) on a read-only Manager: %v", c.name, err)
			}
		}
		if _, err := va.LoadUint64(cs + 8); err != nil {
			t.Errorf("LoadUint64 on a read-only Manager: %v", err)
		}
	})
}

// atomicWidth returns the operand size of the atomic method name, or 0.
func atomicWidth(name string) int64 {
	for _, p := range []string{"Load", "Store", "Add", "CompareAndSwap"} {
		if strings.HasPrefix(name, p) {
			if strings.HasSuffix(name, "32") {
				return 4
			}
			return 8
		}
	}
	return 0
}

// release releases the View Slice returned, if any, and returns its error.
func release(w *accessor.View, err error) error {
	if w != nil {
		w.Release()
	}
	return err
}

// TestErrorsMatchSentinels checks that an accessor error keeps the chain to
// the root sentinel and names the offset.
func TestErrorsMatchSentinels(t *testing.T) {
	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	fill(t, m, 0, 100)
	_, err := va.ReadUint64(96)
	if !errors.Is(err, chunkmap.ErrOutOfRange) || errors.Is(err, io.EOF) {
		t.Errorf("ReadUint64 past Size = %v, want ErrOutOfRange and not io.EOF", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("96")) {
		t.Errorf("ReadUint64 past Size = %q, want the offset 96 named", err)
	}
	_, err = va.AddUint64(3, 1)
	if !errors.Is(err, chunkmap.ErrUnaligned) || !bytes.Contains([]byte(err.Error()), []byte("offset 3")) {
		t.Errorf("AddUint64(3) = %v, want ErrUnaligned naming offset 3", err)
	}
}
