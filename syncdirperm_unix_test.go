//go:build unix

package chunkmap_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestSync_DirectoryNotReadable: a writer whose dataset directory stops
// being readable to its user (mode 0o311: it may still create and search)
// keeps growing and syncing: the directory's fsync goes through the
// descriptor the Manager holds. Sync opened the directory anew to fsync
// it, which needs read permission, and failed with ErrIO ("sync directory:
// permission denied") every time, Close too, while every file was there
// to sync.
func TestSync_DirectoryNotReadable(t *testing.T) {
	if unpriv.Run(t) {
		return // root reads any directory
	}
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, m, pattern(3, cs), 0)
	if err := os.Chmod(dir, 0o311); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	writeAt(t, m, []byte("grown"), 2*cs) // a new chunk file
	if err := m.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
