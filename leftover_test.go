package chunkmap_test

import (
	"bytes"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestGrow_LeftoverMovesEpoch checks growth over a chunk file that a
// Truncate failed to unlink: growth removes the leftover and creates the
// chunk anew under the same name, and a following reader, which kept the
// old file open (it was still under its name), must learn of it through
// the epoch and read the writer's new bytes, not the old chunk's.
func TestGrow_LeftoverMovesEpoch(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	f := vfstest.NewFaulty(nil)
	o := chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&o, f)
	dir := t.TempDir()
	w, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Append(bytes.Repeat([]byte{'A'}, 2*cs)); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, 8)
	if _, err := r.ReadAt(got, cs); err != nil || string(got) != "AAAAAAAA" {
		t.Fatalf("reader ReadAt(cs) = %q, %v", got, err)
	}
	// The unlink of chunk 1 fails once (EPERM of an immutable file, EIO…).
	rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpRemove, "*.chunk"), Times: 1})
	if err := w.Truncate(cs); err == nil || f.Fired(rule) == 0 {
		t.Fatalf("Truncate with a failing unlink: %v (fired %d)", err, f.Fired(rule))
	}
	// The reader follows the Truncate: the epoch moved, the file is still
	// under its name, so it keeps it.
	if _, err := r.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	// Growth removes the leftover file and creates chunk 1 anew.
	fresh := []byte("BBBBBBBB")
	if _, err := w.WriteAt(fresh, cs); err != nil {
		t.Fatalf("WriteAt past the leftover: %v", err)
	}
	wgot := make([]byte, 8)
	if _, err := w.ReadAt(wgot, cs); err != nil || !bytes.Equal(wgot, fresh) {
		t.Fatalf("writer ReadAt(cs) = %q, %v; want %q", wgot, err, fresh)
	}
	if _, err := r.ReadAt(got, cs); err != nil || !bytes.Equal(got, fresh) {
		t.Errorf("reader ReadAt(cs) after the writer re-created chunk 1 = %q, %v; want %q (the writer's bytes)", got, err, fresh)
	}
	var pgot []byte
	if p, err := r.Pin(cs, 8); err == nil {
		pgot = bytes.Clone(p.Bytes())
		p.Release()
	}
	if !bytes.Equal(pgot, fresh) {
		t.Errorf("reader Pin(cs) = %q; want %q", pgot, fresh)
	}
}
