package accessor_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestBatch writes every type inside a Batch at offsets that straddle chunk
// boundaries, with one chunk mappable, then reads each value back inside
// another Batch and through the accessor's own typed calls.
func TestBatch(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			const cs = 64 << 10
			m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.Truncate(4 * cs); err != nil {
				t.Fatal(err)
			}
			v := accessor.New(m, order)
			// Boundary k+1 gets values that end 1..7 bytes past it.
			at := func(k, d int) int64 { return int64(k+1)*cs - int64(d) }
			err = v.Batch(func(b *accessor.Batch) error {
				return errors.Join(
					b.WriteUint8(at(0, 1), 0xa1),
					b.WriteInt8(at(0, 3), -5),
					b.WriteUint16(at(0, 1)+100, 0xbeef), // inside a chunk
					b.WriteInt16(at(1, 1), -12345),
					b.WriteUint32(at(1, 3)-16, 0xdeadbeef),
					b.WriteInt32(at(2, 2), -7654321),
					b.WriteUint64(at(0, 5)-40, 0x0123456789abcdef),
					b.WriteInt64(at(1, 7)+40, math.MinInt64+3),
					b.WriteFloat32(at(2, 1)-64, float32(math.Pi)),
					b.WriteFloat64(at(2, 4)+200, -math.E),
					b.WriteUint64(at(2, 6)-400, 42),
				)
			})
			if err != nil {
				t.Fatal(err)
			}
			// The same values through the accessor's guarded typed reads.
			check := func(name string, got, want any, err error) {
				t.Helper()
				if err != nil || got != want {
					t.Errorf("%s = %v, %v; want %v", name, got, err, want)
				}
			}
			u16, err := v.ReadUint16(at(0, 1) + 100)
			check("ReadUint16", u16, uint16(0xbeef), err)
			i16, err := v.ReadInt16(at(1, 1))
			check("ReadInt16", i16, int16(-12345), err)
			i32, err := v.ReadInt32(at(2, 2))
			check("ReadInt32", i32, int32(-7654321), err)
			err = v.Batch(func(b *accessor.Batch) error {
				u8, err := b.ReadUint8(at(0, 1))
				check("Batch.ReadUint8", u8, uint8(0xa1), err)
				i8, err := b.ReadInt8(at(0, 3))
				check("Batch.ReadInt8", i8, int8(-5), err)
				i16, err := b.ReadInt16(at(1, 1))
				check("Batch.ReadInt16", i16, int16(-12345), err)
				u32, err := b.ReadUint32(at(1, 3) - 16)
				check("Batch.ReadUint32", u32, uint32(0xdeadbeef), err)
				i32, err := b.ReadInt32(at(2, 2))
				check("Batch.ReadInt32", i32, int32(-7654321), err)
				u64, err := b.ReadUint64(at(0, 5) - 40)
				check("Batch.ReadUint64", u64, uint64(0x0123456789abcdef), err)
				i64, err := b.ReadInt64(at(1, 7) + 40)
				check("Batch.ReadInt64", i64, int64(math.MinInt64+3), err)
				f32, err := b.ReadFloat32(at(2, 1) - 64)
				check("Batch.ReadFloat32", f32, float32(math.Pi), err)
				f64, err := b.ReadFloat64(at(2, 4) + 200)
				check("Batch.ReadFloat64", f64, -math.E, err)
				u16, err := b.ReadUint16(at(0, 1) + 100)
				check("Batch.ReadUint16", u16, uint16(0xbeef), err)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// Byte layout against encoding/binary on bytes read back.
			raw := make([]byte, 8)
			if _, err := m.ReadAt(raw, at(1, 7)+40); err != nil {
				t.Fatal(err)
			}
			if got := int64(order.Uint64(raw)); got != math.MinInt64+3 {
				t.Errorf("bytes of the straddling int64 decode to %d", got)
			}
		})
	}
}

func TestBatch_Errors(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(100); err != nil {
		t.Fatal(err)
	}
	v := accessor.New(m, nil)
	err = v.Batch(func(b *accessor.Batch) error {
		if _, err := b.ReadUint64(96); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadUint64 past Size: %v, want ErrOutOfRange", err)
		}
		if err := b.WriteUint64(96, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("WriteUint64 past Size: %v, want ErrOutOfRange (a Batch does not extend)", err)
		}
		if _, err := b.ReadUint32(-4); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadUint32(-4): %v, want ErrOutOfRange", err)
		}
		if _, err := b.ReadFloat64(1<<63 - 4); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadFloat64 near MaxInt64: %v, want ErrOutOfRange", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Size() != 100 {
		t.Errorf("Size = %d, want 100", m.Size())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Batch(func(*accessor.Batch) error { return nil }); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch after Close: %v, want ErrClosed", err)
	}
}

// TestBatch_Hold: HoldWritable and Hold hold every chunk of their range;
// typed writes after HoldWritable and typed reads after Hold, at offsets
// across every chunk of the range (straddling values included), match a
// model; Hold's errors reach the caller as
// chunkmap's, and a zero Batch's Hold reports ErrClosed.
func TestBatch_Hold(t *testing.T) {
	const cs, chunks = 64 << 10, 9
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(chunks * cs); err != nil {
		t.Fatal(err)
	}
	v := accessor.New(m, binary.BigEndian)
	model := map[int64]uint64{}
	for i := range int64(200) {
		// Offsets spread over every chunk at multiples of 8; every 10th
		// straddles the boundary at the end of its chunk. The offsets
		// are fixed and no two values overlap.
		off := i * 7919 * 8 % (chunks*cs - 8)
		if k := off / cs; i%10 == 9 && k < chunks-1 {
			off = (k+1)*cs - 3
		}
		model[off] = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	err = v.Batch(func(b *accessor.Batch) error {
		if err := b.HoldWritable(0, chunks*cs); err != nil {
			return err
		}
		if pinned := m.Stats().Pinned; pinned != chunks {
			t.Errorf("after HoldWritable of %d chunks, %d are held", chunks, pinned)
		}
		for off, x := range model {
			if err := b.WriteUint64(off, x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = v.Batch(func(b *accessor.Batch) error {
		if err := b.Hold(0, chunks*cs); err != nil {
			return err
		}
		if pinned := m.Stats().Pinned; pinned != chunks {
			t.Errorf("after Hold of %d chunks, %d are held", chunks, pinned)
		}
		for off, want := range model {
			if got, err := b.ReadUint64(off); err != nil || got != want {
				t.Errorf("ReadUint64(%d) = %#x, %v; want %#x", off, got, err, want)
			}
		}
		return b.Hold(cs, chunks*cs)
	})
	if !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("Hold past Size: %v, want ErrOutOfRange", err)
	}
	var zero accessor.Batch
	if err := zero.HoldWritable(0, 8); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("HoldWritable on a zero Batch: %v, want ErrClosed", err)
	}
}
