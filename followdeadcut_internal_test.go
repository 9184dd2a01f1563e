package chunkmap

import (
	"bytes"
	"errors"
	"testing"
)

// TestFollow_WriterDeadInsideTruncate leaves the writer's state page as a
// writer killed inside a Truncate leaves it: the cut Size stored, the
// epoch not yet moved (resize.go stores Size before it moves the epoch).
// No epoch move comes after: a follower that had taken the larger Size
// must still take the cut one on its next call, as a follower opened
// now does, and give no bytes past it. Size, Pin and a Batch's Bytes kept
// the larger Size, and handed out bytes past the cut, until a ReadAt or
// a Refresh took the page again under the lock, or a new writer opened.
func TestFollow_WriterDeadInsideTruncate(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	// The page is left as a dead writer's: w is closed only as the test
	// ends, whatever Close then says of the page.
	t.Cleanup(func() { w.Close() })
	if _, err := w.WriteAt(bytes.Repeat([]byte{7}, 3*cs), 0); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The follower takes the writer's state and maps the last chunk.
	if got := r.Size(); got != 3*cs {
		t.Fatalf("follower's Size = %d, want %d", got, 3*cs)
	}
	b := make([]byte, 8)
	if _, err := r.ReadAt(b, 2*cs+8); err != nil {
		t.Fatal(err)
	}
	const cut = cs + 16
	w.shared.p.size.Store(cut) // and the writer dies here

	r2, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got := r2.Size(); got != cut {
		t.Fatalf("a follower opened after the writer died: Size = %d, want %d", got, cut)
	}
	if got := r.Size(); got != cut {
		t.Errorf("follower's Size = %d after its writer died having cut it to %d (a follower opened now says %d)", got, cut, r2.Size())
	}
	if p, err := r.Pin(2*cs+8, 8); !errors.Is(err, ErrOutOfRange) {
		if err == nil {
			p.Release()
		}
		t.Errorf("Pin past the cut Size %d: %v, want ErrOutOfRange", cut, err)
	}
	err = r.Batch(func(bt *Batch) error {
		_, err := bt.Bytes(2*cs+8, 8)
		return err
	})
	if !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Batch Bytes past the cut Size %d: %v, want ErrOutOfRange", cut, err)
	}
}
