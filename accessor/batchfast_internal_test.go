package accessor

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/batchwin"
)

// fakeBatch returns a Batch whose windows are a fake head over buf, as if
// it were mapped at offset lo, with no chunkmap.Batch behind it: what the
// inlined typed calls do not answer goes to the slow path, which such a
// Batch answers with ErrClosed, and so tells the two apart.
func fakeBatch(buf []byte, lo int64, shrinks *uint64) *Batch {
	n, lim := uint64(len(buf)), uint64(0)
	if n >= 8 {
		lim = n - 7
	}
	p := unsafe.Pointer(unsafe.SliceData(buf))
	h := &batchwin.Head{Lo: lo, WLo: lo, N: n, WN: n, Lim: lim, WLim: lim, P: p, WP: p, Shrinks: shrinks,
		Runs: new([batchwin.NRuns]batchwin.Run), Shift: 16}
	return &Batch{h: h, fast: unalignedOK, v: New(nil, binary.NativeEndian)}
}

// TestBatchFast_Window checks the arithmetic of the typed calls' inlined
// fast path on a fake window of 40 bytes at offset 1000: a value wholly in
// the window, at any alignment, is loaded and stored in place, bit for bit;
// one that starts before it, reaches past its end, or lies in its last 7
// bytes (which the one compare of Lim leaves to the call), one after a
// shrink, and one in an accessor whose order is not the machine's, all go
// to the slow path.
func TestBatchFast_Window(t *testing.T) {
	if !unalignedOK {
		t.Skip("this processor has no fast path: every typed Batch call is a call")
	}
	const lo = 1000
	buf := make([]byte, 40)
	for i := range buf {
		buf[i] = byte(i*37 + 11)
	}
	ne := binary.NativeEndian
	var shrinks uint64
	bt := fakeBatch(buf, lo, &shrinks)

	fast := []struct {
		name string
		off  int64
		read func() (uint64, error)
		want uint64
	}{
		{"Uint64 at the window's start", lo, func() (uint64, error) { return bt.ReadUint64(lo) }, ne.Uint64(buf)},
		{"Uint64 at its last place", lo + 32, func() (uint64, error) { return bt.ReadUint64(lo + 32) }, ne.Uint64(buf[32:])},
		{"Uint64 unaligned", lo + 5, func() (uint64, error) { return bt.ReadUint64(lo + 5) }, ne.Uint64(buf[5:])},
		{"Uint32 unaligned", lo + 3, func() (uint64, error) { x, err := bt.ReadUint32(lo + 3); return uint64(x), err }, uint64(ne.Uint32(buf[3:]))},
		{"Int16", lo + 7, func() (uint64, error) { x, err := bt.ReadInt16(lo + 7); return uint64(uint16(x)), err }, uint64(ne.Uint16(buf[7:]))},
		{"Uint8", lo + 32, func() (uint64, error) { x, err := bt.ReadUint8(lo + 32); return uint64(x), err }, uint64(buf[32])},
	}
	for _, c := range fast {
		got, err := c.read()
		if err != nil || got != c.want {
			t.Errorf("%s (offset %d): %#x, %v; want %#x from the window", c.name, c.off, got, err, c.want)
		}
	}

	// A float's bits, a signalling NaN's payload among them, pass
	// unchanged both ways.
	nan := math.Float64frombits(0x7ff0_0000_dead_beef)
	if err := bt.WriteFloat64(lo+9, nan); err != nil {
		t.Fatalf("WriteFloat64 in the window: %v", err)
	}
	if bits := ne.Uint64(buf[9:]); bits != 0x7ff0_0000_dead_beef {
		t.Errorf("WriteFloat64 stored %#x, want the NaN's bits 0x7ff00000deadbeef", bits)
	}
	if x, err := bt.ReadFloat64(lo + 9); err != nil || math.Float64bits(x) != 0x7ff0_0000_dead_beef {
		t.Errorf("ReadFloat64 = %#x, %v; want the NaN's bits", math.Float64bits(x), err)
	}

	slow := []struct {
		name string
		run  func() error
	}{
		{"Uint64 one byte before the window", func() error { _, err := bt.ReadUint64(lo - 1); return err }},
		{"Uint64 reaching one byte past it", func() error { _, err := bt.ReadUint64(lo + 33); return err }},
		{"Uint8 in its last 7 bytes", func() error { _, err := bt.ReadUint8(lo + 33); return err }},
		{"Uint64 far below (the offset's difference wraps)", func() error { _, err := bt.ReadUint64(math.MinInt64); return err }},
		{"WriteUint64 reaching past it", func() error { return bt.WriteUint64(lo+33, 1) }},
		{"WriteUint8 before it", func() error { return bt.WriteUint8(lo-1, 1) }},
	}
	before := append([]byte(nil), buf...)
	for _, c := range slow {
		if err := c.run(); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s: %v, want the slow path's ErrClosed", c.name, err)
		}
	}
	if string(buf) != string(before) {
		t.Errorf("a write refused by the fast path changed the window's bytes")
	}

	shrinks = 1 // the dataset shrank after the window was set
	if _, err := bt.ReadUint64(lo); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("ReadUint64 after a shrink: %v, want the slow path's ErrClosed", err)
	}
	if err := bt.WriteUint64(lo, 1); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("WriteUint64 after a shrink: %v, want the slow path's ErrClosed", err)
	}
	shrinks = 0

	// An order not the machine's is converted on the slow path.
	other := *bt
	other.fast = false
	if _, err := other.ReadUint64(lo); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("ReadUint64 in a Batch without the fast path: %v, want the slow path's ErrClosed", err)
	}
}

// TestBatchFast_OnlyNative checks that a Batch gets the fast path exactly
// when its accessor's order is the machine's and the processor loads
// values at any address.
func TestBatchFast_OnlyNative(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	other := binary.ByteOrder(binary.BigEndian)
	if nativeBig {
		other = binary.LittleEndian
	}
	for _, c := range []struct {
		name  string
		order binary.ByteOrder
		want  bool
	}{
		{"native", binary.NativeEndian, unalignedOK},
		{"the other order", other, false},
	} {
		var got bool
		err := New(m, c.order).Batch(func(bt *Batch) error {
			got = bt.fast
			if bt.h != (*batchwin.Head)(unsafe.Pointer(bt.b)) {
				t.Errorf("%s: the Batch's head is not its chunkmap.Batch's", c.name)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s order: fast path %v, want %v", c.name, got, c.want)
		}
	}
}

// TestBatchFast_Runs checks the typed calls' second place to look, the
// batch's cache of runs, on a fake run of 40 bytes at offset 3<<16+1000 in
// a batch whose window is empty: a value wholly in the run is loaded and
// stored in place (the last byte too, which the window's one compare
// leaves out), one that starts before it or reaches past it, one in the
// run's entry that names another chunk, one after a shrink, and a store
// past the run's writable bytes all go on to the slow path.
func TestBatchFast_Runs(t *testing.T) {
	if !unalignedOK {
		t.Skip("this processor has no fast path: every typed Batch call is a call")
	}
	const lo = 3<<16 + 1000
	buf := make([]byte, 40)
	for i := range buf {
		buf[i] = byte(i*37 + 11)
	}
	ne := binary.NativeEndian
	var shrinks uint64
	bt := fakeBatch(nil, 0, &shrinks)
	bt.h.Runs[3] = batchwin.Run{Lo: lo, N: 40, WN: 32, P: unsafe.Pointer(unsafe.SliceData(buf))}

	if x, err := bt.ReadUint64(lo + 32); err != nil || x != ne.Uint64(buf[32:]) {
		t.Errorf("ReadUint64 at the run's last place = %#x, %v; want it from the run", x, err)
	}
	if x, err := bt.ReadUint8(lo + 39); err != nil || x != buf[39] {
		t.Errorf("ReadUint8 of the run's last byte = %#x, %v; want %#x", x, err, buf[39])
	}
	if err := bt.WriteUint32(lo+28, 0xa1b2c3d4); err != nil || ne.Uint32(buf[28:]) != 0xa1b2c3d4 {
		t.Errorf("WriteUint32 at the writable bytes' last place: %v, stored %#x", err, ne.Uint32(buf[28:]))
	}
	before := append([]byte(nil), buf...)
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"ReadUint64 reaching past the run", func() error { _, err := bt.ReadUint64(lo + 33); return err }},
		{"ReadUint16 starting before it", func() error { _, err := bt.ReadUint16(lo - 1); return err }},
		{"ReadUint64 in chunk 67, whose entry is chunk 3's", func() error { _, err := bt.ReadUint64(lo + 64<<16); return err }},
		{"WriteUint8 past the writable bytes", func() error { return bt.WriteUint8(lo+32, 1) }},
		{"ReadUint64 at a negative offset", func() error { _, err := bt.ReadUint64(-8); return err }},
	} {
		if err := c.run(); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s: %v, want the slow path's ErrClosed", c.name, err)
		}
	}
	if string(buf) != string(before) {
		t.Errorf("a refused write changed the run's bytes")
	}
	shrinks = 1
	if _, err := bt.ReadUint64(lo); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("ReadUint64 in the run after a shrink: %v, want the slow path's ErrClosed", err)
	}
	if err := bt.WriteUint64(lo, 1); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("WriteUint64 in the run after a shrink: %v, want the slow path's ErrClosed", err)
	}
}
