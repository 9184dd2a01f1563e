package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

const clxCS = chunkmap.MinChunkSize

// clxOrder is big endian under a type the accessor does not know.
type clxOrder struct{}

func (clxOrder) Uint16(b []byte) uint16       { return binary.BigEndian.Uint16(b) }
func (clxOrder) Uint32(b []byte) uint32       { return binary.BigEndian.Uint32(b) }
func (clxOrder) Uint64(b []byte) uint64       { return binary.BigEndian.Uint64(b) }
func (clxOrder) PutUint16(b []byte, x uint16) { binary.BigEndian.PutUint16(b, x) }
func (clxOrder) PutUint32(b []byte, x uint32) { binary.BigEndian.PutUint32(b, x) }
func (clxOrder) PutUint64(b []byte, x uint64) { binary.BigEndian.PutUint64(b, x) }
func (clxOrder) String() string               { return "clxOrder" }

var clxOrders = []struct {
	name       string
	order, enc binary.ByteOrder
}{
	{"little", binary.LittleEndian, binary.LittleEndian},
	{"big", binary.BigEndian, binary.BigEndian},
	{"native", binary.NativeEndian, binary.NativeEndian},
	{"custom", clxOrder{}, binary.BigEndian},
}

func clxOpenM(t *testing.T, dir string, o *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// clxBoundaryOff returns an offset at which a value of size bytes lies near
// (often across) a chunk boundary inside [lo, hi).
func clxBoundaryOff(rng *rand.Rand, lo, hi int64, size int) int64 {
	if hi-lo < int64(size) {
		return lo
	}
	for range 8 {
		c := (lo/clxCS + 1 + rng.Int64N(max(1, (hi-lo)/clxCS))) * clxCS
		off := c - int64(size) + 1 + rng.Int64N(int64(2*size-1))
		if off >= lo && off+int64(size) <= hi {
			return off
		}
	}
	return lo + rng.Int64N(hi-lo-int64(size)+1)
}

// TestClientxAccessorModel writes and reads every typed value, bulk slices,
// gathers and scatters around chunk boundaries in every byte order, checks
// the bytes against encoding/binary, and reads them back through scans,
// block scans and views, also after Truncate and DropBefore.
func TestClientxAccessorModel(t *testing.T) {
	seed := testSeed(t, "CLIENTX_SEED")
	for _, o := range clxOrders {
		t.Run(o.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(len(o.name))))
			m := clxOpenM(t, t.TempDir(), &chunkmap.Options{ChunkSize: clxCS, MaxMapped: 2, ArenaSize: 4 * clxCS})
			va := accessor.New(m, o.order)
			enc := o.enc
			var model []byte
			put := func(off int64, b []byte) {
				if end := off + int64(len(b)); end > int64(len(model)) {
					model = append(model, make([]byte, end-int64(len(model)))...)
				}
				copy(model[off:], b)
			}
			check := func(what string) {
				t.Helper()
				if m.Size() != int64(len(model)) {
					t.Fatalf("%s: Size %d, model %d", what, m.Size(), len(model))
				}
				got := make([]byte, m.Size()-m.Start())
				if _, err := va.ReadAt(got, m.Start()); err != nil {
					t.Fatalf("%s: ReadAt: %v", what, err)
				}
				if !bytes.Equal(got, model[m.Start():]) {
					i := 0
					for got[i] == model[m.Start()+int64(i)] {
						i++
					}
					t.Fatalf("%s: byte at %d is %#x, model %#x", what, m.Start()+int64(i), got[i], model[m.Start()+int64(i)])
				}
			}
			// Single values of every type, straddling boundaries.
			ops := 400
			if raceEnabled {
				ops = 50
			}
			for i := range ops {
				lo := m.Start()
				// DropBefore below can move Start past 6 chunks (the bulk
				// writes reach beyond them), and values still go in a few
				// chunks from Start on.
				hi := max(6*clxCS, lo+2*clxCS)
				b := make([]byte, 8)
				x := rng.Uint64()
				switch i % 8 {
				case 0:
					off := clxBoundaryOff(rng, lo, hi, 2)
					if err := va.WriteUint16(off, uint16(x)); err != nil {
						t.Fatal(err)
					}
					enc.PutUint16(b, uint16(x))
					put(off, b[:2])
					if y, err := va.ReadInt16(off); err != nil || y != int16(x) {
						t.Fatalf("ReadInt16(%d) = %d, %v; want %d", off, y, err, int16(x))
					}
				case 1:
					off := clxBoundaryOff(rng, lo, hi, 4)
					if err := va.WriteInt32(off, int32(x)); err != nil {
						t.Fatal(err)
					}
					enc.PutUint32(b, uint32(x))
					put(off, b[:4])
					if y, err := va.ReadUint32(off); err != nil || y != uint32(x) {
						t.Fatalf("ReadUint32(%d) = %d, %v", off, y, err)
					}
				case 2:
					off := clxBoundaryOff(rng, lo, hi, 8)
					if err := va.WriteUint64(off, x); err != nil {
						t.Fatal(err)
					}
					enc.PutUint64(b, x)
					put(off, b)
					if y, err := va.ReadInt64(off); err != nil || y != int64(x) {
						t.Fatalf("ReadInt64(%d) = %d, %v", off, y, err)
					}
				case 3:
					off := clxBoundaryOff(rng, lo, hi, 4)
					f := math.Float32frombits(uint32(x))
					if err := va.WriteFloat32(off, f); err != nil {
						t.Fatal(err)
					}
					enc.PutUint32(b, uint32(x))
					put(off, b[:4])
					if y, err := va.ReadFloat32(off); err != nil || math.Float32bits(y) != uint32(x) {
						t.Fatalf("ReadFloat32(%d) = %v, %v", off, y, err)
					}
				case 4:
					off := clxBoundaryOff(rng, lo, hi, 8)
					f := math.Float64frombits(x)
					if err := va.WriteFloat64(off, f); err != nil {
						t.Fatal(err)
					}
					enc.PutUint64(b, x)
					put(off, b)
					if y, err := va.ReadFloat64(off); err != nil || math.Float64bits(y) != x {
						t.Fatalf("ReadFloat64(%d) = %v, %v", off, y, err)
					}
				case 5:
					off := lo + rng.Int64N(hi-lo)
					if err := va.WriteInt8(off, int8(x)); err != nil {
						t.Fatal(err)
					}
					put(off, []byte{byte(x)})
					if y, err := va.ReadUint8(off); err != nil || y != uint8(x) {
						t.Fatalf("ReadUint8(%d) = %v, %v", off, y, err)
					}
				case 6: // bulk uint32s across boundaries
					vals := make([]uint32, 1+rng.IntN(3*clxCS/4))
					off := clxBoundaryOff(rng, lo, hi, 4) - int64(rng.IntN(len(vals)))*4
					if off < lo {
						off = lo
					}
					raw := make([]byte, 4*len(vals))
					for k := range vals {
						vals[k] = rng.Uint32()
						enc.PutUint32(raw[4*k:], vals[k])
					}
					if err := va.WriteUint32s(off, vals); err != nil {
						t.Fatal(err)
					}
					put(off, raw)
					got := make([]uint32, len(vals))
					if err := va.ReadUint32s(off, got); err != nil {
						t.Fatal(err)
					}
					for k := range got {
						if got[k] != vals[k] {
							t.Fatalf("ReadUint32s(%d)[%d] = %#x, want %#x", off, k, got[k], vals[k])
						}
					}
				case 7: // gather and scatter of uint64s
					if m.Size()-lo < 8 {
						continue
					}
					offs := make([]int64, 1+rng.IntN(700))
					vals := make([]uint64, len(offs))
					for k := range offs {
						offs[k] = clxBoundaryOff(rng, lo, m.Size(), 8)
						vals[k] = rng.Uint64()
					}
					if err := va.WriteUint64sAt(offs, vals); err != nil {
						t.Fatal(err)
					}
					for k := range offs {
						enc.PutUint64(b, vals[k])
						put(offs[k], b)
					}
					got := make([]uint64, len(offs))
					if err := va.ReadUint64sAt(offs, got); err != nil {
						t.Fatal(err)
					}
					for k := range offs {
						if want := enc.Uint64(model[offs[k]:]); got[k] != want {
							t.Fatalf("ReadUint64sAt: value %d at %d = %#x, want %#x", k, offs[k], got[k], want)
						}
					}
				}
				if i%50 == 49 || i == ops-1 {
					check(fmt.Sprint("after op ", i))
					clxCheckScans(t, m, va, enc, model)
					switch rng.IntN(3) {
					case 0:
						n := m.Start() + rng.Int64N(m.Size()-m.Start()+1)
						if err := m.Truncate(n); err != nil {
							t.Fatal(err)
						}
						if n < int64(len(model)) {
							clear(model[n:])
							model = model[:n]
						}
					case 1:
						n := m.Start() + rng.Int64N(max(1, (m.Size()-m.Start())/2))
						if err := m.DropBefore(n); err != nil {
							t.Fatal(err)
						}
					}
					check(fmt.Sprint("after shrink ", i))
					clxCheckScans(t, m, va, enc, model)
				}
			}
		})
	}
}

// clxCheckScans reads [Start, Size) through every kind of scan and a view
// and compares with the model.
func clxCheckScans(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, enc binary.ByteOrder, model []byte) {
	t.Helper()
	start, size := m.Start(), m.Size()
	s := va.Scan()
	// Uint16s from an odd offset, Uint64s from an offset 3 past a boundary.
	for _, from := range []int64{start + 1, start + 3} {
		n := int((size - from) / 8)
		if n <= 0 {
			continue
		}
		want := from
		for off, x := range s.Uint64s(from, n) {
			if off != want {
				t.Fatalf("Uint64s(%d): offset %d, want %d", from, off, want)
			}
			if x != enc.Uint64(model[off:]) {
				t.Fatalf("Uint64s(%d): value at %d = %#x, want %#x", from, off, x, enc.Uint64(model[off:]))
			}
			want += 8
		}
		if want != from+int64(8*n) {
			t.Fatalf("Uint64s(%d, %d) stopped at %d: %v", from, n, want, s.Err())
		}
		k, n16 := 0, int(min(size-from, clxCS+100)/2)
		for off, x := range s.Int16s(from, n16) {
			if x != int16(enc.Uint16(model[off:])) {
				t.Fatalf("Int16s(%d): value at %d = %#x", from, off, x)
			}
			k++
		}
		if k != n16 {
			t.Fatalf("Int16s yielded %d values, want %d: %v", k, n16, s.Err())
		}
	}
	var got []byte
	next := start
	for off, b := range s.Blocks(start, size-start) {
		if off != next {
			t.Fatalf("Blocks: block at %d, want %d", off, next)
		}
		if off/clxCS != (off+int64(len(b))-1)/clxCS {
			t.Fatalf("Blocks: block at %d of %d bytes crosses a chunk", off, len(b))
		}
		got = append(got, b...)
		next += int64(len(b))
	}
	if s.Err() != nil {
		t.Fatalf("scan: %v", s.Err())
	}
	if !bytes.Equal(got, model[start:size]) {
		t.Fatalf("Blocks: bytes differ from the model")
	}
	if size > start {
		v, err := va.Slice(start, int(size-start))
		if err != nil {
			t.Fatalf("Slice(%d, %d): %v", start, size-start, err)
		}
		if !bytes.Equal(v.Bytes(), model[start:size]) {
			t.Fatalf("Slice: bytes differ from the model")
		}
		v.Release()
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Fatalf("after scans: %d chunks still held", st.Pinned)
	}
}

// TestClientxScanBodies runs loop bodies that call back into the Manager
// (Truncate below the scan, DropBefore, Close, Sync, a nested scan), break
// and panic, in typed and block scans; each must end as documented, with the
// error in Err, nothing held, and no hang.
func TestClientxScanBodies(t *testing.T) {
	setup := func(t *testing.T) (*chunkmap.Manager, *accessor.ViewAccessor) {
		m := clxOpenM(t, t.TempDir(), &chunkmap.Options{ChunkSize: clxCS, MaxMapped: 2})
		va := accessor.New(m, binary.BigEndian)
		vals := make([]uint64, 4*clxCS/8)
		for i := range vals {
			vals[i] = uint64(i)
		}
		if err := va.WriteUint64s(0, vals); err != nil {
			t.Fatal(err)
		}
		return m, va
	}
	{
		t.Run("typed-truncate", func(t *testing.T) {
			m, va := setup(t)
			s := va.Scan()
			last := int64(-1)
			for off, x := range s.Uint64s(0, 4*clxCS/8) {
				if x != uint64(off/8) {
					t.Fatalf("value at %d = %d", off, x)
				}
				if off == clxCS+16 {
					if err := m.Truncate(clxCS + 100); err != nil {
						t.Fatal(err)
					}
				}
				last = off
			}
			if !errors.Is(s.Err(), chunkmap.ErrOutOfRange) {
				t.Fatalf("Err after the body truncated: %v", s.Err())
			}
			if last >= clxCS+2048+100 {
				t.Fatalf("values up to %d yielded past the truncated size %d and the piece read", last, clxCS+100)
			}
			// The error sticks.
			n := 0
			for range s.Uint64s(0, 1) {
				n++
			}
			if n != 0 {
				t.Fatalf("a scan after an error yielded %d values", n)
			}
		})
		t.Run("typed-close", func(t *testing.T) {
			m, va := setup(t)
			s := va.Scan()
			for off := range s.Uint32s(0, clxCS) {
				if off == 4096 {
					if err := m.Close(); err != nil {
						t.Fatalf("Close in a typed scan body: %v", err)
					}
				}
			}
			if !errors.Is(s.Err(), chunkmap.ErrClosed) {
				t.Fatalf("Err after Close in the body: %v", s.Err())
			}
		})
		t.Run("blocks-close", func(t *testing.T) {
			m, va := setup(t)
			s := va.Scan()
			blocks := 0
			for range s.Blocks(0, 4*clxCS) {
				blocks++
				if blocks == 2 {
					if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) {
						t.Fatalf("Close in a block scan body: %v, want ErrBusy", err)
					}
				}
			}
			if blocks != 2 || !errors.Is(s.Err(), chunkmap.ErrClosed) {
				t.Fatalf("%d blocks, Err %v; want 2, ErrClosed", blocks, s.Err())
			}
			if err := m.Close(); !errors.Is(err, chunkmap.ErrClosed) {
				t.Fatalf("second Close: %v", err)
			}
		})
		t.Run("blocks-drop-and-regrow", func(t *testing.T) {
			m, va := setup(t)
			s := va.Scan()
			var seen []int64
			for off, b := range s.Blocks(0, 4*clxCS) {
				seen = append(seen, off)
				if binary.BigEndian.Uint64(b) != uint64(off/8) {
					t.Fatalf("block at %d starts with %d", off, binary.BigEndian.Uint64(b))
				}
				if off == clxCS {
					if err := m.DropBefore(2 * clxCS); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(seen) != 4 || s.Err() != nil {
				t.Fatalf("blocks %v, Err %v: a DropBefore of blocks already yielded must not end the scan", seen, s.Err())
			}
		})
		t.Run("panic-then-reuse", func(t *testing.T) {
			m, va := setup(t)
			for _, blocks := range []bool{false, true} {
				func() {
					defer func() {
						if r := recover(); r != "boom" {
							t.Fatalf("recovered %v, want boom", r)
						}
					}()
					s := va.Scan()
					if blocks {
						for range s.Blocks(0, 3*clxCS) {
							panic("boom")
						}
					}
					for range s.Uint64s(0, 10) {
						panic("boom")
					}
				}()
				if st := m.Stats(); st.Pinned != 0 {
					t.Fatalf("after a panic in the body: %d chunks held", st.Pinned)
				}
			}
			if err := m.Truncate(0); err != nil {
				t.Fatalf("Truncate after panicking scans: %v", err)
			}
			if err := m.Close(); err != nil {
				t.Fatalf("Close after panicking scans: %v", err)
			}
		})
		t.Run("nested", func(t *testing.T) {
			_, va := setup(t)
			s := va.Scan()
			outer := 0
			for off, b := range s.Blocks(0, 2*clxCS) {
				outer++
				inner := 0
				for o, x := range s.Uint64s(off, 4) {
					if x != binary.BigEndian.Uint64(b[o-off:]) {
						t.Fatalf("nested scan at %d: %d", o, x)
					}
					inner++
				}
				if inner != 4 {
					t.Fatalf("nested scan yielded %d", inner)
				}
			}
			if outer != 2 || s.Err() != nil {
				t.Fatalf("outer %d, %v", outer, s.Err())
			}
		})
	}
}
