package chunkmap_test

import (
	"bytes"
	"errors"
	"math/bits"
	"os"
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
	// The dataset is sparse but for the prefix of each chunk that a
	// writable pin reaches into (allocated for stores through it): a GiB
	// for chunk 0 of the largest size, given back before the next size.
	// The pin across the second boundary is read-only: writable, it would
	// allocate chunk 1 whole too.
	keepHolesOnTmpfs(t)
	for _, cs := range []int64{1 << 30, 512 << 20} {
		dir := t.TempDir()
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
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
		for _, r := range []struct {
			off, n   int64
			writable bool
		}{{cs - 4, 8, true}, {cs - 5000, 10000, true}, {cs - 1, 2, true}, {2*cs - 4096, 4096 + 1, false}, {cs - 3, 3 << 20, true}} {
			pin, name := m.Pin, "Pin"
			if r.writable {
				pin, name = m.PinWritable, "PinWritable"
			}
			p, err := pin(r.off, int(r.n))
			if err != nil {
				t.Fatalf("chunk size %d: %s(%d, %d): %v", cs, name, r.off, r.n, err)
			}
			b := p.Bytes()
			if len(b) != int(r.n) {
				t.Fatalf("chunk size %d: %s(%d, %d): %d bytes", cs, name, r.off, r.n, len(b))
			}
			want := make([]byte, len(b))
			if _, err := m.ReadAt(want, r.off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("chunk size %d: %s(%d, %d): bytes differ from ReadAt's", cs, name, r.off, r.n)
			}
			if !r.writable {
				p.Release()
				continue
			}
			b[0], b[len(b)-1] = 0xa1, 0xb2
			p.Release()
			got := make([]byte, 1)
			for _, c := range []struct {
				off  int64
				want byte
			}{{r.off, 0xa1}, {r.off + r.n - 1, 0xb2}} {
				if _, err := m.ReadAt(got, c.off); err != nil || got[0] != c.want {
					t.Fatalf("chunk size %d: after a store through the pin of (%d, %d), ReadAt(%d) = %#x, %v; want %#x",
						cs, r.off, r.n, c.off, got[0], err, c.want)
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
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatch_AcrossBigChunks is TestPin_AcrossBigChunks for a Batch's bytes:
// on 32-bit platforms its views of chunks of 1 GiB side by side failed the
// same way. Two ranges across the same boundary, pages apart, each get
// their bytes, and the first range's stay valid after the second's.
//
// A writable range has every chunk it reaches allocated as far as Size
// goes (see Batch.WritableBytes): the ranges across the first boundary are
// written while Size ends just past it, so that only chunk 0 is allocated
// whole (a GiB), and the one across the second boundary is only read, once
// a Truncate inside the batch has grown the dataset to reach it.
func TestBatch_AcrossBigChunks(t *testing.T) {
	keepHolesOnTmpfs(t)
	for _, cs := range []int64{1 << 30, 512 << 20} {
		dir := t.TempDir()
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
		if err != nil && bits.UintSize == 32 && errors.Is(err, chunkmap.ErrIO) {
			t.Skipf("chunk size %d: Open: %v", cs, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Truncate(cs + 1<<20); err != nil {
			t.Fatal(err)
		}
		ranges := []struct {
			off, n   int64
			writable bool
		}{{cs - 4, 8, true}, {cs - 100000, 8, true}, {cs - 8, 200000, true}, {2*cs - 1, 2, false}}
		// want is the first byte of each range after the batch: what it
		// stored, or the zeros of the Truncate.
		want := func(i int) byte {
			if ranges[i].writable {
				return byte(0x10 + i)
			}
			return 0
		}
		err = m.Batch(func(b *chunkmap.Batch) error {
			var got [][]byte
			for i, r := range ranges {
				access, name := b.Bytes, "Bytes"
				if r.writable {
					access, name = b.WritableBytes, "WritableBytes"
				} else if err := m.Truncate(3 * cs); err != nil {
					return err
				}
				p, err := access(r.off, int(r.n))
				if err != nil {
					return err
				}
				if len(p) != int(r.n) {
					t.Fatalf("chunk size %d: %s(%d, %d): %d bytes", cs, name, r.off, r.n, len(p))
				}
				if r.writable {
					p[0] = want(i)
				}
				got = append(got, p)
				q, err := b.Bytes(r.off, int(r.n))
				if err != nil {
					return err
				}
				if q[0] != want(i) {
					t.Errorf("chunk size %d: Bytes(%d) after %s: %#x, want %#x", cs, r.off, name, q[0], want(i))
				}
			}
			for i, p := range got {
				if p[0] != want(i) {
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
			if _, err := m.ReadAt(one, r.off); err != nil || one[0] != want(i) {
				t.Errorf("chunk size %d: ReadAt(%d) after the batch = %#x, %v; want %#x", cs, r.off, one[0], err, want(i))
			}
		}
		if st := m.Stats(); st.Pinned != 0 {
			t.Errorf("chunk size %d: Stats %+v after the batch", cs, st)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}
