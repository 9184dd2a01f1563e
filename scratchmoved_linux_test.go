package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestScratch_DirectoryMoved checks that a scratch dataset keeps making its
// chunk files in the directory it opened, as a writer's dataset does in
// the one it locked: moved, with a symlink to another directory put under
// its old name, the directory still gets the new chunk's file (an unnamed
// file whose /proc/self/fd link names the directory it was made in), and
// the other none; the dataset's bytes read back whole. It made them by
// path, in the symlink's target. Once the directory is removed, growth
// fails with an error matching ErrIO and fs.ErrNotExist, and what was
// written stays readable.
func TestScratch_DirectoryMoved(t *testing.T) {
	root := t.TempDir()
	dir, moved, other := filepath.Join(root, "d"), filepath.Join(root, "moved"), filepath.Join(root, "elsewhere")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ChunkSize: clxChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data := bytes.Repeat([]byte("scratch!"), 2*clxChunk/8)
	if _, err := m.WriteAt(data[:clxChunk], 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(data[clxChunk:], clxChunk); err != nil {
		t.Fatalf("growth after the directory moved: %v", err)
	}
	in := func(d string) (n int) {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		for _, e := range entries {
			if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, d+string(filepath.Separator)) {
				n++
			}
		}
		return n
	}
	if n := in(other); n > 0 {
		t.Errorf("%d descriptors of files in %s, the symlink's target put under the directory's old name", n, other)
	}
	if n := in(moved); n < 2 {
		t.Errorf("%d descriptors of files in %s, the directory moved, want one for each of the 2 chunks", n, moved)
	}
	got := make([]byte, len(data))
	if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt after the move: %v (bytes equal: %v)", err, bytes.Equal(got, data))
	}

	if err := os.Remove(moved); err != nil { // empty: its files have no names
		t.Fatal(err)
	}
	_, err = m.WriteAt([]byte{1}, 5*clxChunk)
	if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("growth after the directory was removed = %v, want ErrIO matching fs.ErrNotExist", err)
	}
	if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt after the directory was removed: %v (bytes equal: %v)", err, bytes.Equal(got, data))
	}
}
