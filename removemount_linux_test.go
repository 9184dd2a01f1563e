package chunkmap_test

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/chunkmap/chunkmap"
	"golang.org/x/sys/unix"
)

// TestRemove_MountPointStays: a dataset whose directory is a mount point
// (a volume given to it) was removed whole, and then Remove failed with
// ErrIO ("remove directory: device or resource busy"), for the emptied
// directory cannot be removed while mounted: the caller took the removal
// for failed, and a second Remove said there was no dataset. The mount
// point now stays, as a directory holding other files does, and Remove
// succeeds.
func TestRemove_MountPointStays(t *testing.T) {
	dir := mountTmpfs(t, 1<<20)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	if err := unix.Stat(dir, &before); err != nil {
		t.Fatal(err)
	}
	if err := chunkmap.Remove(dir); err != nil {
		t.Errorf("Remove of a dataset whose directory is a mount point: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the mount point: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("after Remove the mount point holds %d entries (%s first), want none", len(entries), entries[0].Name())
	}
	var after unix.Stat_t
	if err := unix.Stat(dir, &after); err != nil {
		t.Fatal(err)
	}
	if after.Dev != before.Dev {
		t.Errorf("the directory is no longer the mount point")
	}
	if err := chunkmap.Remove(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Remove = %v, want fs.ErrNotExist", err)
	}
}
