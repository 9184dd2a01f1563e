//go:build linux

package chunkmap_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/swaptest"
)

// TestOpen_DirSwappedForSymlinkStaysPut has another goroutine swap a
// dataset's directory with a symlink to another dataset, again and again,
// while read-write and ReadOnly Opens run. Open refuses a dir that is a
// symlink; one swapped in after Open's look must not send it elsewhere
// either: an Open that succeeds must have opened the dataset of the
// directory (Size 100), never the other (Size 7777), which a read-write
// Open would lock, clean up and write. Before, read-write Opens did, after
// a few hundred to a few thousand tries (canonicalDir resolved the link,
// and lockDir followed it); the race is not certain, so
// TestCanonicalDir_NeverFollowsTheLastName pins it down.
func TestOpen_DirSwappedForSymlinkStaysPut(t *testing.T) {
	root := t.TempDir()
	dir, other := filepath.Join(root, "ds"), filepath.Join(root, "other")
	for _, c := range []struct {
		dir  string
		size int
	}{{dir, 100}, {other, 7777}} {
		m, err := chunkmap.Open(c.dir, &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.WriteAt(make([]byte, c.size), 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	// Swapped in one step each time (RENAME_EXCHANGE), so that the name
	// always stands for one of the two: a gap would let Open make a new
	// dataset there, as it must.
	swaps := swaptest.Start(t, dir, link)
	defer swaps.Stop()
	deadline := time.Now().Add(stormFor(3 * time.Second))
	tries, opened := 0, 0
	for ; time.Now().Before(deadline); tries++ {
		for _, ro := range []bool{false, true} {
			m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: ro})
			if err != nil {
				continue // the name was a symlink, or missing, at the look
			}
			opened++
			if size := m.Size(); size != 100 {
				t.Errorf("try %d: Open(ReadOnly=%v) of %s opened a dataset of Size %d, want 100: the one the symlink swapped in points to", tries, ro, dir, size)
			}
			m.Close()
		}
	}
	t.Logf("%d tries, %d Opens succeeded", tries, opened)
}
