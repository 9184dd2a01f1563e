//go:build unix

package chunkmap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestOpen_DotDotAfterSymlink: a path whose ".." follows a symlink names
// what the kernel makes of it (the parent of the link's target), for the
// directory and for every file in it alike. Joining file names to the path
// as text would put the manifest and the chunks somewhere else than the
// directory Open created and locked.
func TestOpen_DotDotAfterSymlink(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "a", "sub")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "b", "L")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	// The kernel resolves L/.. to root/a; as text it would be root/b.
	path := link + string(filepath.Separator) + ".." + string(filepath.Separator) + "ds"
	real := filepath.Join(root, "a", "ds")

	data := bytes.Repeat([]byte("dotdot"), 20000) // two 64 KiB chunks
	m, err := chunkmap.Open(path, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "b", "ds")); !os.IsNotExist(err) {
		t.Errorf("%s exists (err %v): files went where the path reads as text", filepath.Join(root, "b", "ds"), err)
	}
	for _, p := range []string{path, real} {
		r, err := chunkmap.Open(p, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("reopen %s: %v", p, err)
		}
		got := make([]byte, len(data))
		if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
			t.Errorf("reopen %s: ReadAt: %v, equal %v", p, err, bytes.Equal(got, data))
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := chunkmap.Remove(path); err != nil {
		t.Fatalf("Remove(%s): %v", path, err)
	}
	if entries, err := os.ReadDir(real); !os.IsNotExist(err) {
		t.Errorf("after Remove, %s holds %d entries (err %v)", real, len(entries), err)
	}
}

// TestDir_AsGiven: Dir returns the directory as it was given to Open,
// relative or through a symlink, while the files go where Open resolved it.
func TestDir_AsGiven(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "L")); err != nil {
		t.Fatal(err)
	}
	given := filepath.Join(root, "L", "ds")
	for _, o := range []*chunkmap.Options{{ChunkSize: chunkmap.MinChunkSize}, {ChunkSize: chunkmap.MinChunkSize, Scratch: true}} {
		m, err := chunkmap.Open(given, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Dir(); got != given {
			t.Errorf("Dir() = %q, want %q as given (Scratch %v)", got, given, o.Scratch)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "real", "ds", chunkmap.ManifestName)); err != nil {
		t.Errorf("the manifest is not in the resolved directory: %v", err)
	}
}
