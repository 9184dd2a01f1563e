package chunkmap_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// openWindowed opens a dataset of chunks 64 KiB chunks, each filled with
// the byte 'a'+its index, all mapped.
func openWindowed(t *testing.T, chunks int) (*chunkmap.Manager, int64) {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: chunks + 2, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for i := range chunks {
		if _, err := m.Append(bytes.Repeat([]byte{byte('a' + i)}, cs)); err != nil {
			t.Fatal(err)
		}
	}
	return m, cs
}

// TestBatch_WindowHoldsOnlyTouched: the fast path's window spans the
// chunks a batch holds side by side, and never holds one the batch did not
// touch: after touching chunks 0, 2 and then 1 of four mapped chunks, three
// are held; then bytes across two boundaries read right.
func TestBatch_WindowHoldsOnlyTouched(t *testing.T) {
	m, cs := openWindowed(t, 4)
	err := m.Batch(func(b *chunkmap.Batch) error {
		for _, off := range []int64{0, 2 * cs} {
			if _, err := b.Bytes(off, 8); err != nil {
				return err
			}
		}
		if got := m.Stats().Pinned; got != 2 {
			t.Errorf("after touching chunks 0 and 2: Pinned %d, want 2", got)
		}
		if _, err := b.Bytes(cs+7, 1); err != nil {
			return err
		}
		if got := m.Stats().Pinned; got != 3 {
			t.Errorf("after touching chunks 0, 1 and 2: Pinned %d, want 3", got)
		}
		for i := range int64(3) {
			q, err := b.Bytes(i*cs+cs/2, 1)
			if err != nil || q[0] != byte('a'+i) {
				t.Errorf("chunk %d: %q, %v", i, q, err)
			}
		}
		if _, err := b.Bytes(3*cs+5, 1); err != nil {
			return err
		}
		if got := m.Stats().Pinned; got != 4 {
			t.Errorf("after touching all four chunks: Pinned %d, want 4", got)
		}
		// (Where the arena is scattered, a range across chunks is mapped
		// in a view of its own, which Stats counts too: so this comes
		// after the counts.)
		p, err := b.Bytes(cs-4, int(cs)+8)
		if err != nil {
			return err
		}
		want := append(append(bytes.Repeat([]byte{'a'}, 4), bytes.Repeat([]byte{'b'}, int(cs))...), bytes.Repeat([]byte{'c'}, 4)...)
		if !bytes.Equal(p, want) {
			t.Errorf("bytes across chunks 0-2 differ")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Pinned; got != 0 {
		t.Errorf("after the batch: Pinned %d, want 0", got)
	}
}

// TestBatch_WindowAfterShrinkAndRegrow: a batch whose window spans three
// chunks sees a Truncate it makes itself at once: past the new Size its
// reads and stores are refused, and after the dataset grows again its
// stores land in the new chunks (and read back), never in the deleted
// ones, whose bytes it never returns.
func TestBatch_WindowAfterShrinkAndRegrow(t *testing.T) {
	m, cs := openWindowed(t, 3)
	err := m.Batch(func(b *chunkmap.Batch) error {
		for i := range int64(3) {
			if _, err := b.WritableBytes(i*cs, 8); err != nil {
				return err
			}
		}
		if err := m.Truncate(cs + 100); err != nil {
			return err
		}
		if _, err := b.Bytes(2*cs, 8); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("read in a deleted chunk: %v, want ErrOutOfRange", err)
		}
		if _, err := b.WritableBytes(cs+100, 8); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("store past the new Size: %v, want ErrOutOfRange", err)
		}
		if p, err := b.Bytes(cs+92, 8); err != nil || !bytes.Equal(p, []byte("bbbbbbbb")) {
			t.Errorf("read below the new Size: %q, %v", p, err)
		}
		if err := m.Truncate(3 * cs); err != nil {
			return err
		}
		p, err := b.Bytes(2*cs, 8)
		if err != nil || !bytes.Equal(p, make([]byte, 8)) {
			t.Errorf("read in the chunk made anew: %q, %v, want zeros", p, err)
		}
		w, err := b.WritableBytes(2*cs+8, 8)
		if err != nil {
			return err
		}
		copy(w, "newbytes")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	if _, err := m.ReadAt(got, 2*cs); err != nil || !bytes.Equal(got, append(make([]byte, 8), "newbytes"...)) {
		t.Errorf("after the batch, chunk 2 reads %q (%v), want zeros then the store", got, err)
	}
}

// TestBatch_Copy: a copy of a Batch acts for the Batch it was copied from
// while the function runs, and like it reports ErrClosed, holding nothing,
// once the function returned.
func TestBatch_Copy(t *testing.T) {
	m, cs := openWindowed(t, 2)
	var c chunkmap.Batch
	err := m.Batch(func(b *chunkmap.Batch) error {
		if _, err := b.Bytes(0, 8); err != nil {
			return err
		}
		c = *b
		p, err := c.Bytes(cs, 8)
		if err != nil || p[0] != 'b' {
			t.Errorf("copy during the batch: %q, %v", p, err)
		}
		if got := m.Stats().Pinned; got != 2 {
			t.Errorf("Pinned %d after the copy touched chunk 1, want 2", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, cs} {
		if p, err := c.Bytes(off, 8); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("copy after the batch: Bytes(%d) = %q, %v, want ErrClosed", off, p, err)
		}
		if _, err := c.WritableBytes(off, 8); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("copy after the batch: WritableBytes(%d): %v, want ErrClosed", off, err)
		}
	}
	if got := m.Stats().Pinned; got != 0 {
		t.Errorf("Pinned %d after the batch, want 0", got)
	}
}
