package accessor_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// advType is one type of the typed calls, seen through its bits.
type advType struct {
	name  string // as in the method names
	size  int
	write func(va *accessor.ViewAccessor, off int64, x uint64) error
	read  func(va *accessor.ViewAccessor, off int64) (uint64, error)
	bw    func(b *accessor.Batch, off int64, x uint64) error
	br    func(b *accessor.Batch, off int64) (uint64, error)
}

var advTypes = []advType{
	{"Uint8", 1,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint8(off, uint8(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadUint8(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint8(off, uint8(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadUint8(off); return uint64(y), err }},
	{"Int8", 1,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt8(off, int8(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadInt8(off)
			return uint64(uint8(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt8(off, int8(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadInt8(off)
			return uint64(uint8(y)), err
		}},
	{"Uint16", 2,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint16(off, uint16(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadUint16(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint16(off, uint16(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadUint16(off); return uint64(y), err }},
	{"Int16", 2,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt16(off, int16(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadInt16(off)
			return uint64(uint16(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt16(off, int16(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadInt16(off)
			return uint64(uint16(y)), err
		}},
	{"Uint32", 4,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint32(off, uint32(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadUint32(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint32(off, uint32(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadUint32(off); return uint64(y), err }},
	{"Int32", 4,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt32(off, int32(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadInt32(off)
			return uint64(uint32(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt32(off, int32(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadInt32(off)
			return uint64(uint32(y)), err
		}},
	{"Float32", 4,
		func(va *accessor.ViewAccessor, off int64, x uint64) error {
			return va.WriteFloat32(off, math.Float32frombits(uint32(x)))
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadFloat32(off)
			return uint64(math.Float32bits(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error {
			return b.WriteFloat32(off, math.Float32frombits(uint32(x)))
		},
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadFloat32(off)
			return uint64(math.Float32bits(y)), err
		}},
	{"Uint64", 8,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint64(off, x) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) { return va.ReadUint64(off) },
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint64(off, x) },
		func(b *accessor.Batch, off int64) (uint64, error) { return b.ReadUint64(off) }},
	{"Int64", 8,
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt64(off, int64(x)) },
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadInt64(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt64(off, int64(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadInt64(off); return uint64(y), err }},
	{"Float64", 8,
		func(va *accessor.ViewAccessor, off int64, x uint64) error {
			return va.WriteFloat64(off, math.Float64frombits(x))
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := va.ReadFloat64(off)
			return math.Float64bits(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error {
			return b.WriteFloat64(off, math.Float64frombits(x))
		},
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadFloat64(off)
			return math.Float64bits(y), err
		}},
}

// advEncode returns the size-byte encoding of the low bits of x in enc.
func advEncode(enc binary.ByteOrder, size int, x uint64) []byte {
	b := make([]byte, size)
	switch size {
	case 1:
		b[0] = byte(x)
	case 2:
		enc.PutUint16(b, uint16(x))
	case 4:
		enc.PutUint32(b, uint32(x))
	case 8:
		enc.PutUint64(b, x)
	}
	return b
}

// advMask keeps the low size bytes of x.
func advMask(size int, x uint64) uint64 {
	if size == 8 {
		return x
	}
	return x & (1<<(8*size) - 1)
}

// TestAdversarialTypedBoundaries proves that every typed write and read, of
// every type and in every byte order (the custom path included), puts
// exactly the value's encoding at the offset, at every offset around chunk
// boundaries (values straddling two chunks), at Start after DropBefore and
// at Size, that a write past Size extends it with zeros in between, and that
// every byte survives Close and reopen.
func TestAdversarialTypedBoundaries(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_SEED")
	for _, o := range advOrders {
		t.Run(o.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			dir := t.TempDir()
			m := advOpen(t, dir, nil)
			va := accessor.New(m, o.order)
			md := &advModel{}
			// Start with three chunks of random bytes.
			init := make([]byte, 3*advCS)
			for i := range init {
				init[i] = byte(rng.Uint32())
			}
			if _, err := m.WriteAt(init, 0); err != nil {
				t.Fatal(err)
			}
			md.put(0, init)
			for _, ty := range advTypes {
				for _, base := range []int64{advCS, 2 * advCS} {
					for d := int64(-9); d <= 9; d++ {
						off := base + d
						x := rng.Uint64()
						if err := ty.write(va, off, x); err != nil {
							t.Fatalf("Write%s(%d): %v", ty.name, off, err)
						}
						md.put(off, advEncode(o.enc, ty.size, x))
						got, err := ty.read(va, off)
						if err != nil {
							t.Fatalf("Read%s(%d): %v", ty.name, off, err)
						}
						if want := advMask(ty.size, x); got != want {
							t.Fatalf("Read%s(%d) = %#x, want %#x", ty.name, off, got, want)
						}
					}
				}
				// The last value that fits before Size.
				size := m.Size()
				x := rng.Uint64()
				if err := ty.write(va, size-int64(ty.size), x); err != nil {
					t.Fatalf("Write%s(Size-%d): %v", ty.name, ty.size, err)
				}
				md.put(size-int64(ty.size), advEncode(o.enc, ty.size, x))
				if got, err := ty.read(va, size-int64(ty.size)); err != nil || got != advMask(ty.size, x) {
					t.Fatalf("Read%s(Size-%d) = %#x, %v; want %#x", ty.name, ty.size, got, err, advMask(ty.size, x))
				}
				// Every read that reaches past Size by 1 byte or more.
				for d := int64(ty.size) - 1; d >= 0; d-- {
					off := size - d
					_, err := ty.read(va, off)
					advIsErr(t, fmt.Sprintf("Read%s(Size-%d)", ty.name, d), err, chunkmap.ErrOutOfRange, fmt.Sprint(off))
				}
				advCheck(t, m, md, "after "+ty.name)
			}
			// A write past Size, across a chunk boundary, leaves zeros in the gap.
			for _, ty := range advTypes {
				off := m.Size() + advCS - 3
				x := rng.Uint64()
				if err := ty.write(va, off, x); err != nil {
					t.Fatalf("Write%s(%d) past Size: %v", ty.name, off, err)
				}
				md.put(off, advEncode(o.enc, ty.size, x))
				if got := m.Size(); got != off+int64(ty.size) {
					t.Fatalf("Write%s(%d) past Size: Size = %d, want %d", ty.name, off, got, off+int64(ty.size))
				}
			}
			advCheck(t, m, md, "after extending writes")
			// Drop the first chunk: reads and writes below Start fail and
			// leave everything as it was; reads at Start work.
			if err := m.DropBefore(advCS + 5); err != nil {
				t.Fatal(err)
			}
			for _, ty := range advTypes {
				for _, off := range []int64{advCS - int64(ty.size), advCS - 1, 0, -1, -int64(ty.size)} {
					if ty.size == 1 && off == advCS-1 {
						continue
					}
					_, err := ty.read(va, off)
					advIsErr(t, fmt.Sprintf("Read%s(%d) below Start", ty.name, off), err, chunkmap.ErrOutOfRange)
					err = ty.write(va, off, rng.Uint64())
					advIsErr(t, fmt.Sprintf("Write%s(%d) below Start", ty.name, off), err, chunkmap.ErrOutOfRange)
				}
				if off := int64(advCS - 1); ty.size > 1 {
					_, err := ty.read(va, off)
					advIsErr(t, fmt.Sprintf("Read%s(%d) straddling Start", ty.name, off), err, chunkmap.ErrOutOfRange)
					err = ty.write(va, off, rng.Uint64())
					advIsErr(t, fmt.Sprintf("Write%s(%d) straddling Start", ty.name, off), err, chunkmap.ErrOutOfRange)
				}
				if got, err := ty.read(va, advCS); err != nil {
					t.Fatalf("Read%s(Start): %v", ty.name, err)
				} else {
					want := advMask(ty.size, 0)
					switch ty.size {
					case 1:
						want = uint64(md.b[advCS])
					case 2:
						want = uint64(o.enc.Uint16(md.b[advCS:]))
					case 4:
						want = uint64(o.enc.Uint32(md.b[advCS:]))
					case 8:
						want = o.enc.Uint64(md.b[advCS:])
					}
					if got != want {
						t.Fatalf("Read%s(Start) = %#x, want %#x", ty.name, got, want)
					}
				}
			}
			advCheck(t, m, md, "after DropBefore")
			advReopen(t, m, dir, md)
		})
	}
}

// TestAdversarialTypedHugeOffsets proves that typed reads and writes at
// offsets near math.MaxInt64 and negative ones fail with ErrOutOfRange,
// without a panic, without a hang and without changing Size or a byte.
func TestAdversarialTypedHugeOffsets(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, nil)
	va := accessor.New(m, binary.BigEndian)
	md := &advModel{}
	p := make([]byte, advCS+100)
	for i := range p {
		p[i] = byte(i * 7)
	}
	if _, err := m.WriteAt(p, 0); err != nil {
		t.Fatal(err)
	}
	md.put(0, p)
	offs := []int64{-1, -8, math.MinInt64, math.MinInt64 + 1, math.MaxInt64, math.MaxInt64 - 1,
		math.MaxInt64 - 7, math.MaxInt64 - 8, math.MaxInt64 - advCS, math.MaxInt64 &^ (advCS - 1), math.MaxInt64&^(advCS-1) - 3}
	for _, ty := range advTypes {
		for _, off := range offs {
			advTimeout(t, 10e9, fmt.Sprintf("%s at %d", ty.name, off), func() {
				_, err := ty.read(va, off)
				advIsErr(t, fmt.Sprintf("Read%s(%d)", ty.name, off), err, chunkmap.ErrOutOfRange)
				err = ty.write(va, off, 0x0102030405060708)
				if off >= 0 && off <= math.MaxInt64-int64(ty.size) && err == nil {
					t.Fatalf("Write%s(%d) succeeded: a dataset that large cannot exist", ty.name, off)
				}
				if err == nil {
					t.Fatalf("Write%s(%d): nil error", ty.name, off)
				}
				err = va.Batch(func(b *accessor.Batch) error {
					_, err := ty.br(b, off)
					advIsErr(t, fmt.Sprintf("Batch.Read%s(%d)", ty.name, off), err, chunkmap.ErrOutOfRange)
					err = ty.bw(b, off, 1)
					advIsErr(t, fmt.Sprintf("Batch.Write%s(%d)", ty.name, off), err, chunkmap.ErrOutOfRange)
					return nil
				})
				if err != nil {
					t.Fatalf("Batch: %v", err)
				}
			})
		}
	}
	advCheck(t, m, md, "after huge offsets")
	advReopen(t, m, dir, md)
}
