package accessor_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// advSentinel fills dst with a recognisable value.
func advSentinel(dst []uint64) {
	for i := range dst {
		dst[i] = 0xdeadbeefcafef00d ^ uint64(i)
	}
}

// advWant decodes the model's uint64 at off in enc.
func advWant64(md *advModel, enc binary.ByteOrder, off int64) uint64 {
	return enc.Uint64(md.b[off:])
}

// TestAdversarialBulkRoundTrip proves that the bulk writes and reads of
// every type, in every byte order, at unaligned offsets across several chunk
// boundaries and with lengths around the internal buffer sizes, store
// exactly the encoding of each value, read back what the model holds,
// leave the caller's source slice unchanged, and survive Close and reopen.
func TestAdversarialBulkRoundTrip(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_SEED")
	for _, o := range advOrders {
		t.Run(o.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			dir := t.TempDir()
			m := advOpen(t, dir, nil)
			va := accessor.New(m, o.order)
			md := &advModel{}
			for round := 0; round < 40; round++ {
				count := []int{0, 1, 15, 16, 17, 511, 512, 513, 1023, 8193, 20000}[rng.IntN(11)]
				off := int64(rng.IntN(4*advCS)) - int64(rng.IntN(2))
				if off < 0 {
					off = 0
				}
				switch rng.IntN(5) {
				case 0:
					src := make([]uint16, count)
					for i := range src {
						src[i] = uint16(rng.Uint32())
					}
					keep := slices.Clone(src)
					if err := va.WriteUint16s(off, src); err != nil {
						t.Fatalf("WriteUint16s(%d, %d): %v", off, count, err)
					}
					if !slices.Equal(src, keep) {
						t.Fatalf("WriteUint16s changed its source slice")
					}
					for i, x := range src {
						md.put(off+int64(2*i), advEncode(o.enc, 2, uint64(x)))
					}
					got := make([]uint16, count)
					if err := va.ReadUint16s(off, got); err != nil {
						t.Fatalf("ReadUint16s(%d, %d): %v", off, count, err)
					}
					if !slices.Equal(got, src) {
						t.Fatalf("ReadUint16s(%d, %d) differs from what was written", off, count)
					}
				case 1:
					src := make([]uint32, count)
					for i := range src {
						src[i] = rng.Uint32()
					}
					keep := slices.Clone(src)
					if err := va.WriteUint32s(off, src); err != nil {
						t.Fatalf("WriteUint32s(%d, %d): %v", off, count, err)
					}
					if !slices.Equal(src, keep) {
						t.Fatalf("WriteUint32s changed its source slice")
					}
					for i, x := range src {
						md.put(off+int64(4*i), advEncode(o.enc, 4, uint64(x)))
					}
					got := make([]uint32, count)
					if err := va.ReadUint32s(off, got); err != nil {
						t.Fatalf("ReadUint32s: %v", err)
					}
					if !slices.Equal(got, src) {
						t.Fatalf("ReadUint32s(%d, %d) differs from what was written", off, count)
					}
				case 2:
					src := make([]float32, count)
					for i := range src {
						src[i] = math.Float32frombits(rng.Uint32() &^ (0xff << 23)) // no NaN
					}
					if err := va.WriteFloat32s(off, src); err != nil {
						t.Fatalf("WriteFloat32s: %v", err)
					}
					for i, x := range src {
						md.put(off+int64(4*i), advEncode(o.enc, 4, uint64(math.Float32bits(x))))
					}
					got := make([]float32, count)
					if err := va.ReadFloat32s(off, got); err != nil {
						t.Fatalf("ReadFloat32s: %v", err)
					}
					if !slices.Equal(got, src) {
						t.Fatalf("ReadFloat32s(%d, %d) differs from what was written", off, count)
					}
				case 3:
					src := make([]uint64, count)
					for i := range src {
						src[i] = rng.Uint64()
					}
					keep := slices.Clone(src)
					if err := va.WriteUint64s(off, src); err != nil {
						t.Fatalf("WriteUint64s: %v", err)
					}
					if !slices.Equal(src, keep) {
						t.Fatalf("WriteUint64s changed its source slice")
					}
					for i, x := range src {
						md.put(off+int64(8*i), advEncode(o.enc, 8, x))
					}
					got := make([]uint64, count)
					if err := va.ReadUint64s(off, got); err != nil {
						t.Fatalf("ReadUint64s: %v", err)
					}
					if !slices.Equal(got, src) {
						t.Fatalf("ReadUint64s(%d, %d) differs from what was written", off, count)
					}
				case 4:
					src := make([]float64, count)
					for i := range src {
						src[i] = math.Float64frombits(rng.Uint64() &^ (0x7ff << 52))
					}
					if err := va.WriteFloat64s(off, src); err != nil {
						t.Fatalf("WriteFloat64s: %v", err)
					}
					for i, x := range src {
						md.put(off+int64(8*i), advEncode(o.enc, 8, math.Float64bits(x)))
					}
					got := make([]float64, count)
					if err := va.ReadFloat64s(off, got); err != nil {
						t.Fatalf("ReadFloat64s: %v", err)
					}
					if !slices.Equal(got, src) {
						t.Fatalf("ReadFloat64s(%d, %d) differs from what was written", off, count)
					}
				}
				if round%10 == 9 {
					advCheck(t, m, md, fmt.Sprintf("round %d", round))
				}
			}
			advCheck(t, m, md, "at the end")
			advReopen(t, m, dir, md)
		})
	}
}

// TestAdversarialBulkReadOutOfRangeLeavesDst proves that a bulk read whose
// range is not wholly inside [Start, Size) (past Size by one byte, below
// Start, negative, overflowing) returns ErrOutOfRange and does not touch a
// single value of dst, as the documentation promises, in every byte order.
func TestAdversarialBulkReadOutOfRangeLeavesDst(t *testing.T) {
	for _, o := range advOrders {
		t.Run(o.name, func(t *testing.T) {
			m := advOpen(t, t.TempDir(), nil)
			va := accessor.New(m, o.order)
			p := make([]byte, 3*advCS+4)
			for i := range p {
				p[i] = byte(i*31 + 7)
			}
			if _, err := m.WriteAt(p, 0); err != nil {
				t.Fatal(err)
			}
			if err := m.DropBefore(advCS); err != nil {
				t.Fatal(err)
			}
			size := m.Size()
			cases := []struct {
				off   int64
				count int
			}{
				{size - 8*5 + 1, 5},
				{size - 8*5 + 4, 5},
				{size, 1},
				{advCS - 8, 5},
				{advCS - 1, 2},
				{0, 3},
				{-8, 3},
				{math.MaxInt64 - 8, 3},
				{math.MaxInt64, 1},
				{advCS, (int(size) - advCS) / 8 * 2},
			}
			for _, c := range cases {
				dst := make([]uint64, c.count)
				advSentinel(dst)
				err := va.ReadUint64s(c.off, dst)
				advIsErr(t, fmt.Sprintf("ReadUint64s(%d, %d)", c.off, c.count), err, chunkmap.ErrOutOfRange)
				want := make([]uint64, c.count)
				advSentinel(want)
				if !slices.Equal(dst, want) {
					t.Errorf("ReadUint64s(%d, %d) failed but changed dst", c.off, c.count)
				}
				d16 := make([]uint16, 4*c.count)
				for i := range d16 {
					d16[i] = 0xbeef
				}
				err = va.ReadUint16s(c.off, d16)
				advIsErr(t, fmt.Sprintf("ReadUint16s(%d, %d)", c.off, 4*c.count), err, chunkmap.ErrOutOfRange)
				for i, x := range d16 {
					if x != 0xbeef {
						t.Errorf("ReadUint16s(%d) failed but changed dst[%d]", c.off, i)
						break
					}
				}
			}
			advPinned(t, m, "after failed bulk reads")
		})
	}
}

// TestAdversarialGatherMixed proves that ReadUint64sAt and ReadUint32sAt,
// given offsets that are valid, straddling chunk boundaries, repeated,
// and then one invalid offset (past Size, below Start, negative, huge)
// followed by more valid ones, in every byte order and at positions
// around the internal piece of 256 values, return ErrOutOfRange naming the
// invalid offset, with dst holding the model's value for every earlier
// offset; and that WriteUint64sAt with the same offsets writes every value
// before the invalid one and none after it.
func TestAdversarialGatherMixed(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_SEED")
	for _, o := range advOrders {
		t.Run(o.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			dir := t.TempDir()
			m := advOpen(t, dir, &chunkmap.Options{MaxMapped: 2})
			va := accessor.New(m, o.order)
			md := &advModel{}
			p := make([]byte, 6*advCS+3)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			if _, err := m.WriteAt(p, 0); err != nil {
				t.Fatal(err)
			}
			md.put(0, p)
			if err := m.DropBefore(advCS); err != nil {
				t.Fatal(err)
			}
			size := m.Size()
			valid := func() int64 {
				switch rng.IntN(4) {
				case 0: // straddling a chunk boundary
					return int64(2+rng.IntN(4))*advCS - int64(1+rng.IntN(7))
				case 1:
					return size - 8
				default:
					return advCS + rng.Int64N(size-8-advCS)
				}
			}
			bads := []int64{size - 7, size, advCS - 1, advCS - 8, 0, -1, math.MaxInt64, math.MaxInt64 - 7, math.MinInt64}
			for round := 0; round < 60; round++ {
				n := []int{1, 2, 255, 256, 257, 300, 511, 512, 513, 700}[rng.IntN(10)]
				bad := rng.IntN(n)
				offs := make([]int64, n)
				for i := range offs {
					offs[i] = valid()
				}
				offs[bad] = bads[rng.IntN(len(bads))]
				// Gather of uint64.
				dst := make([]uint64, n+3)
				advSentinel(dst)
				err := va.ReadUint64sAt(offs, dst)
				advIsErr(t, fmt.Sprintf("round %d: ReadUint64sAt (bad offs[%d] = %d of %d)", round, bad, offs[bad], n),
					err, chunkmap.ErrOutOfRange, fmt.Sprint(offs[bad]))
				for i := 0; i < bad; i++ {
					if want := advWant64(md, o.enc, offs[i]); dst[i] != want {
						t.Fatalf("round %d: ReadUint64sAt failed at %d but dst[%d] (offset %d) = %#x, model %#x",
							round, bad, i, offs[i], dst[i], want)
					}
				}
				sent := make([]uint64, n+3)
				advSentinel(sent)
				if !slices.Equal(dst[n:], sent[n:]) {
					t.Fatalf("round %d: ReadUint64sAt wrote past len(offs)", round)
				}
				// Gather of uint32 on the same offsets.
				d32 := make([]uint32, n)
				err = va.ReadUint32sAt(offs, d32)
				if offs[bad] != size-7 { // size-7 is a valid uint32 offset
					advIsErr(t, fmt.Sprintf("round %d: ReadUint32sAt", round), err, chunkmap.ErrOutOfRange, fmt.Sprint(offs[bad]))
					for i := 0; i < bad; i++ {
						if want := o.enc.Uint32(md.b[offs[i]:]); d32[i] != want {
							t.Fatalf("round %d: ReadUint32sAt dst[%d] = %#x, model %#x", round, i, d32[i], want)
						}
					}
				} else if err != nil {
					t.Fatalf("round %d: ReadUint32sAt with all offsets valid: %v", round, err)
				}
				// Scatter: the values before bad are written, none after.
				src := make([]uint64, n)
				for i := range src {
					src[i] = rng.Uint64()
				}
				err = va.WriteUint64sAt(offs, src)
				advIsErr(t, fmt.Sprintf("round %d: WriteUint64sAt (bad offs[%d] = %d)", round, bad, offs[bad]),
					err, chunkmap.ErrOutOfRange, fmt.Sprint(offs[bad]))
				for i := 0; i < bad; i++ {
					md.put(offs[i], advEncode(o.enc, 8, src[i]))
				}
				advCheck(t, m, md, fmt.Sprintf("round %d after a failed WriteUint64sAt", round))
			}
			advPinned(t, m, "after gathers")
			advReopen(t, m, dir, md)
		})
	}
}

// TestAdversarialGatherShortDst proves that the gather and scatter calls
// refuse a dst or src shorter than offs with ErrOutOfRange, and touch
// neither the dataset nor dst then.
func TestAdversarialGatherShortDst(t *testing.T) {
	for _, o := range advOrders {
		m := advOpen(t, t.TempDir(), nil)
		va := accessor.New(m, o.order)
		md := &advModel{}
		p := make([]byte, 2*advCS)
		for i := range p {
			p[i] = byte(i)
		}
		m.WriteAt(p, 0)
		md.put(0, p)
		offs := []int64{0, 8, 16, advCS - 4}
		dst := make([]uint64, 3)
		advSentinel(dst)
		advIsErr(t, o.name+": ReadUint64sAt short", va.ReadUint64sAt(offs, dst), chunkmap.ErrOutOfRange)
		want := make([]uint64, 3)
		advSentinel(want)
		if !slices.Equal(dst, want) {
			t.Errorf("%s: ReadUint64sAt with a short dst changed dst", o.name)
		}
		advIsErr(t, o.name+": WriteUint64sAt short", va.WriteUint64sAt(offs, []uint64{1, 2, 3}), chunkmap.ErrOutOfRange)
		advIsErr(t, o.name+": WriteUint32sAt short", va.WriteUint32sAt(offs, []uint32{1}), chunkmap.ErrOutOfRange)
		advIsErr(t, o.name+": ReadUint32sAt short", va.ReadUint32sAt(offs, nil), chunkmap.ErrOutOfRange)
		advCheck(t, m, md, o.name+": after short gathers")
		if err := va.ReadUint64sAt(nil, nil); err != nil {
			t.Errorf("%s: ReadUint64sAt(nil, nil) = %v", o.name, err)
		}
	}
}

// TestAdversarialScatterDuplicateOffsets proves that a scatter with the
// same offset several times (and overlapping values) leaves the last value
// written there, as a loop of WriteUint64 in order would, in every order.
func TestAdversarialScatterDuplicateOffsets(t *testing.T) {
	for _, o := range advOrders {
		m := advOpen(t, t.TempDir(), nil)
		va := accessor.New(m, o.order)
		md := &advModel{}
		md.put(0, make([]byte, 2*advCS))
		m.WriteAt(make([]byte, 2*advCS), 0)
		var offs []int64
		var src []uint64
		for i := 0; i < 600; i++ {
			off := int64([]int{0, 3, advCS - 4, advCS - 8, advCS + 1, 100}[i%6])
			offs = append(offs, off)
			src = append(src, uint64(i)*0x0101010101010101+uint64(i))
		}
		if err := va.WriteUint64sAt(offs, src); err != nil {
			t.Fatalf("%s: WriteUint64sAt: %v", o.name, err)
		}
		for i, off := range offs {
			md.put(off, advEncode(o.enc, 8, src[i]))
		}
		advCheck(t, m, md, o.name+": after duplicate scatter")
	}
}
