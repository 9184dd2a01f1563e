//go:build unix

package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestSync_OneChunkOneReport: a chunk written both by pwrite (its first
// write since a Sync, to a clean chunk) and through its mapping (an atomic
// store) is fsync'd on both counts, and where its directory stops being
// searchable both checks fail, in different words: a stat of the mapped
// file, an open by name. Sync reported both, two lines on one file; it
// reports the file once.
func TestSync_OneChunkOneReport(t *testing.T) {
	if unpriv.Run(t) {
		return // root searches any directory
	}
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	writeAt(t, m, pattern(3, 4*cs), 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	writeAt(t, m, []byte("by pwrite"), cs+10)
	if err := m.StoreUint64(cs+1024, 7); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	err = m.Sync()
	if !errors.Is(err, chunkmap.ErrIO) {
		t.Fatalf("Sync with the directory unsearchable = %v, want ErrIO", err)
	}
	name := filepath.Join(dir, "0000000000000001.chunk")
	if n := strings.Count(err.Error(), name); n != 1 {
		t.Errorf("Sync's error names %s %d times, want once:\n%v", name, n, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync once the directory is searchable again: %v", err)
	}
}
