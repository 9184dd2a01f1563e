package chunkmap

import (
	"bytes"
	"io/fs"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// lstatCountFS counts the Lstat calls of a Manager.
type lstatCountFS struct {
	vfs.FS
	n atomic.Int64
}

func (c *lstatCountFS) Lstat(name string) (fs.FileInfo, error) {
	c.n.Add(1)
	return c.FS.Lstat(name)
}

// TestFollow_ReconcileKeepsChunksBelowCuts checks that a following reader
// that reconciles after its writer's cuts (keptBelowLocked) keeps the
// chunks below the lowest cut without looking at their names, lets go of
// those past it, and reads the bytes the writer wrote anew there.
func TestFollow_ReconcileKeepsChunksBelowCuts(t *testing.T) {
	const chunks = 32
	dir := t.TempDir()
	w := openWriter(t, dir)
	cs := w.ChunkSize()
	if _, err := w.Append(bytes.Repeat([]byte{'A'}, chunks*int(cs))); err != nil {
		t.Fatal(err)
	}
	counter := &lstatCountFS{FS: vfs.OS}
	o := &Options{ReadOnly: true, MaxMapped: 2 * chunks}
	SetFS(o, counter)
	r, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all := make([]byte, chunks*cs)
	// Twice: the first reconcile after Open looks at every name.
	for range 2 {
		if _, err := r.ReadAt(all, 0); err != nil {
			t.Fatal(err)
		}
		if err := w.Truncate(int64(len(all)) - 16); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(bytes.Repeat([]byte{'A'}, 16)); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 50
	before := counter.n.Load()
	b := make([]byte, 1)
	for i := range rounds {
		if err := w.Truncate(int64(len(all)) - 16); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(bytes.Repeat([]byte{'A'}, 16)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(b, int64(i%chunks)*cs); err != nil || b[0] != 'A' {
			t.Fatalf("round %d: read %q, %v", i, b, err)
		}
	}
	// Looking at every held chunk's name would take rounds*chunks calls.
	if n := counter.n.Load() - before; n >= rounds {
		t.Errorf("%d reconciles after cuts in the last chunk made %d Lstat calls, want fewer than one each", rounds, n)
	}

	// A cut that deletes chunks, and growth that makes them anew with
	// other bytes: the reader lets go of the old files.
	if err := w.Truncate(cs + 8); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(bytes.Repeat([]byte{'B'}, len(all)-int(cs)-8)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(all, 0); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte{'A'}, int(cs)+8), bytes.Repeat([]byte{'B'}, len(all)-int(cs)-8)...)
	if i := firstDiffAt(all, want); i >= 0 {
		t.Errorf("after a cut to %d and growth: byte %d is %q, want %q", cs+8, i, all[i], want[i])
	}
}

// firstDiffAt returns the first index where a and b differ, or -1.
func firstDiffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
