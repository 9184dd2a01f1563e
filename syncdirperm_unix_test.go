//go:build unix

package chunkmap_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
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
	m := dirtyTwice(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	err := m.Sync()
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

// TestSync_OneChunkRefusalYields: where one of a chunk's two checks is
// refused a descriptor and the other finds the file gone, Sync reports the
// file gone, whichever check came first: the refusal says only that the
// file was not looked at. Sync reported the first error of the chunk, so
// a refusal of the mapped file's check hid the removal that the open by
// name found.
func TestSync_OneChunkRefusalYields(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	fsys := vfstest.NewFaulty(nil)
	o := &chunkmap.Options{ChunkSize: cs, MaxMapped: 1}
	chunkmap.SetFS(o, fsys)
	m := dirtyTwice(t, dir, o)
	// The mapped file's check (a stat by name, as is the descriptor
	// cache's) is refused; the open by name finds no file.
	const name = "0000000000000001.chunk"
	fsys.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpLstat, name), Err: syscall.EMFILE})
	fsys.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, name), Err: fs.ErrNotExist})
	err := m.Sync()
	if !errors.Is(err, chunkmap.ErrFault) || !strings.Contains(err.Error(), "removed by another program") {
		t.Errorf("Sync = %v, want ErrFault naming %s removed", err, name)
	}
	if n := strings.Count(err.Error(), name); n != 1 {
		t.Errorf("Sync's error names %s %d times, want once:\n%v", name, n, err)
	}
}

// dirtyTwice opens a dataset of four chunks at dir with o, syncs it, and
// dirties chunk 1 both ways a Sync then checks: by pwrite (its first write
// since the Sync, to a chunk not mapped) and through its mapping (an
// atomic store, which maps it).
func dirtyTwice(t *testing.T, dir string, o *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, o)
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
	return m
}
