package accessor_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestRestatedErrorNamesPlaceOnce opens a dataset through a symlink,
// a relative path and a path with a trailing slash (so that Dir differs
// from the directory the Manager's messages name), and checks that a bulk
// call's error restated from the Manager's names the call once: its own
// operation and offset, not also the Manager's "read 0 bytes at offset 0".
func TestRestatedErrorNamesPlaceOnce(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink among the parents: Open resolves it once (the directory
	// itself may not be a symlink).
	link := filepath.Join(base, "link")
	if err := os.Symlink(base, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(base)
	for _, dir := range []string{real, filepath.Join(link, "real"), "real", "./real"} {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
		if err != nil {
			t.Fatalf("Open(%q): %v", dir, err)
		}
		va := accessor.New(m, nil)
		if _, err := m.WriteAt(make([]byte, 64), 0); err != nil {
			t.Fatal(err)
		}
		m.Close()
		err = va.ReadUint64s(8, make([]uint64, 2))
		if !errors.Is(err, chunkmap.ErrClosed) {
			t.Fatalf("Open(%q): ReadUint64s after Close: %v, want ErrClosed", dir, err)
		}
		msg := err.Error()
		if strings.Count(msg, "at offset") != 1 || strings.Contains(msg, "read 0 bytes") {
			t.Errorf("Open(%q), Dir() %q: ReadUint64s after Close names its place more than once:\n\t%s", dir, m.Dir(), msg)
		}
	}
}
