//go:build linux

package chunkmap_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/swaptest"
)

// TestRemove_DirSwappedForSymlinkLeavesOtherDataset runs Remove on a
// dataset's directory while another goroutine swaps it, again and again
// and in one step (RENAME_EXCHANGE), with a symlink to another dataset
// that no Remove is for. Remove locks the directory it looked at; every
// file it removes must be that directory's, never the other dataset's,
// and a Remove that returns nil must have removed the whole dataset.
// Before, Remove listed and unlinked by path: the first or second Remove
// that returned nil had unlinked some of the other dataset's files
// (its MANIFEST, say) and left as many of its own.
func TestRemove_DirSwappedForSymlinkLeavesOtherDataset(t *testing.T) {
	root := t.TempDir()
	dir, other, link := filepath.Join(root, "ds"), filepath.Join(root, "other"), filepath.Join(root, "link")
	make3 := func(d string) {
		t.Helper()
		m, err := chunkmap.Open(d, &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.WriteAt(make([]byte, 3*cs), 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	names := func(d string) []string {
		t.Helper()
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range entries {
			ns = append(ns, e.Name())
		}
		return ns
	}
	make3(dir)
	make3(other)
	otherNames := names(other)
	// A file of its own keeps the directory after Remove, so that the
	// swaps go on.
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("not the dataset's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	// Stop puts the directory back under its name.
	swaps := swaptest.Start(t, dir, link)
	defer swaps.Stop()
	deadline := time.Now().Add(stormFor(2 * time.Second))
	tries, removed := 0, 0
	for ; time.Now().Before(deadline) && !t.Failed(); tries++ {
		if chunkmap.Remove(dir) != nil {
			continue // the name was the symlink, or moved, at some step
		}
		removed++
		swaps.Stop()
		if got := names(other); !slices.Equal(got, otherNames) {
			t.Errorf("try %d: Remove(%s) returned nil, and the other dataset holds %v, want %v", tries, dir, got, otherNames)
		}
		if got := names(dir); !slices.Equal(got, []string{"keep"}) {
			t.Errorf("try %d: Remove(%s) returned nil, and the directory holds %v, want [keep]", tries, dir, got)
		}
		make3(dir)
		swaps.Restart()
	}
	t.Logf("%d tries, %d Removes returned nil", tries, removed)
	if removed == 0 {
		t.Log("no Remove succeeded between swaps: nothing was checked")
	}
}
