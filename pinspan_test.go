package chunkmap_test

import (
	"bytes"
	"errors"
	"math/bits"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestPin_AcrossBigChunks pins ranges across the boundaries of chunks of
// 1 GiB and 512 MiB, with the options otherwise at their defaults. On
// 32-bit platforms the arena then has one slot, so such a pin needs a
// private view, which mapped its chunks whole: 2 GiB for two chunks of
// 1 GiB, more than one range of a 32-bit address space, so every pin
// across a boundary of the default ChunkSize failed with ErrIO ("does not
// fit the address space").
func TestPin_AcrossBigChunks(t *testing.T) {
	for _, cs := range []int64{1 << 30, 512 << 20} {
		m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs})
		if err != nil && bits.UintSize == 32 && errors.Is(err, chunkmap.ErrIO) {
			// The arena and as much again for the rest of the program
			// did not fit the address space, which earlier tests of
			// this process may have cut up.
			t.Skipf("chunk size %d: Open: %v", cs, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Truncate(3 * cs); err != nil {
			t.Fatal(err)
		}
		va := accessor.New(m, nil)
		if err := va.WriteUint64(cs-4, 0xcafe); err != nil {
			t.Fatalf("chunk size %d: WriteUint64 across: %v", cs, err)
		}
		for _, r := range [][2]int64{{cs - 4, 8}, {cs - 5000, 10000}, {cs - 1, 2}, {2*cs - 4096, 4096 + 1}, {cs - 3, 3 << 20}} {
			p, err := m.PinWritable(r[0], int(r[1]))
			if err != nil {
				t.Fatalf("chunk size %d: PinWritable(%d, %d): %v", cs, r[0], r[1], err)
			}
			b := p.Bytes()
			if len(b) != int(r[1]) {
				t.Fatalf("chunk size %d: PinWritable(%d, %d): %d bytes", cs, r[0], r[1], len(b))
			}
			want := make([]byte, len(b))
			if _, err := m.ReadAt(want, r[0]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("chunk size %d: PinWritable(%d, %d): bytes differ from ReadAt's", cs, r[0], r[1])
			}
			b[0], b[len(b)-1] = 0xa1, 0xb2
			p.Release()
			got := make([]byte, 1)
			for _, c := range []struct {
				off  int64
				want byte
			}{{r[0], 0xa1}, {r[0] + r[1] - 1, 0xb2}} {
				if _, err := m.ReadAt(got, c.off); err != nil || got[0] != c.want {
					t.Fatalf("chunk size %d: after a store through the pin of (%d, %d), ReadAt(%d) = %#x, %v; want %#x",
						cs, r[0], r[1], c.off, got[0], err, c.want)
				}
			}
		}
		if err := m.Sync(); err != nil {
			t.Fatalf("chunk size %d: Sync: %v", cs, err)
		}
		if st := m.Stats(); st.Pinned != 0 || st.Mapped > 1 && m.Slots() == 1 {
			t.Errorf("chunk size %d: Stats %+v after every pin's release", cs, st)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatch_AcrossBigChunks is TestPin_AcrossBigChunks for a Batch's bytes:
// on 32-bit platforms its views of chunks of 1 GiB side by side failed the
// same way. Two ranges across the same boundary, pages apart, each get
// their bytes, and the first range's stay valid after the second's.
func TestBatch_AcrossBigChunks(t *testing.T) {
	for _, cs := range []int64{1 << 30, 512 << 20} {
		m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs})
		if err != nil && bits.UintSize == 32 && errors.Is(err, chunkmap.ErrIO) {
			t.Skipf("chunk size %d: Open: %v", cs, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Truncate(3 * cs); err != nil {
			t.Fatal(err)
		}
		ranges := [][2]int64{{cs - 4, 8}, {cs - 100000, 8}, {cs - 8, 200000}, {2*cs - 1, 2}}
		err = m.Batch(func(b *chunkmap.Batch) error {
			var got [][]byte
			for i, r := range ranges {
				p, err := b.WritableBytes(r[0], int(r[1]))
				if err != nil {
					return err
				}
				if len(p) != int(r[1]) {
					t.Fatalf("chunk size %d: WritableBytes(%d, %d): %d bytes", cs, r[0], r[1], len(p))
				}
				p[0] = byte(0x10 + i)
				got = append(got, p)
				q, err := b.Bytes(r[0], int(r[1]))
				if err != nil {
					return err
				}
				if q[0] != byte(0x10+i) {
					t.Errorf("chunk size %d: Bytes(%d) after a store through WritableBytes: %#x", cs, r[0], q[0])
				}
			}
			for i, p := range got {
				if p[0] != byte(0x10+i) {
					t.Errorf("chunk size %d: bytes of range %d changed to %#x", cs, i, p[0])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("chunk size %d: Batch: %v", cs, err)
		}
		one := make([]byte, 1)
		for i, r := range ranges {
			if _, err := m.ReadAt(one, r[0]); err != nil || one[0] != byte(0x10+i) {
				t.Errorf("chunk size %d: ReadAt(%d) after the batch = %#x, %v; want %#x", cs, r[0], one[0], err, 0x10+i)
			}
		}
		if st := m.Stats(); st.Pinned != 0 {
			t.Errorf("chunk size %d: Stats %+v after the batch", cs, st)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
