//go:build linux

package chunkmap_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/swaptest"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// TestRemove_EmptiedDirSwappedLeavesWhatStandsUnderItsName runs Remove on a
// dataset's directory, which holds nothing else, while another goroutine
// keeps exchanging it (RENAME_EXCHANGE) with a decoy that no Remove is
// for: a symlink, or an empty directory. Remove deletes the directory it
// locked once it is empty, and only if it still stands under its name;
// the decoy must survive every Remove. Before, the directory was removed
// by path (os.Remove): when the decoy stood under the name at that
// instant, Remove returned nil having deleted the decoy, and left the
// emptied directory under the decoy's name.
func TestRemove_EmptiedDirSwappedLeavesWhatStandsUnderItsName(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	for _, decoy := range []string{"symlink", "empty directory"} {
		t.Run(decoy, func(t *testing.T) {
			root := t.TempDir()
			dir, other := filepath.Join(root, "ds"), filepath.Join(root, "other")
			datasetAt(t, dir)
			var err error
			if decoy == "symlink" {
				err = os.Symlink(root, other)
			} else {
				err = os.Mkdir(other, 0o755)
			}
			if err != nil {
				t.Fatal(err)
			}
			decoyInfo, err := os.Lstat(other)
			if err != nil {
				t.Fatal(err)
			}
			// where returns the name the decoy stands under, or "" if it
			// is gone.
			where := func() string {
				for _, name := range []string{dir, other} {
					if fi, err := os.Lstat(name); err == nil && os.SameFile(fi, decoyInfo) {
						return name
					}
				}
				return ""
			}
			swaps := swaptest.Start(t, dir, other)
			defer swaps.Stop()
			deadline := time.Now().Add(stormFor(time.Second))
			tries, removed := 0, 0
			for ; time.Now().Before(deadline) && !t.Failed(); tries++ {
				if chunkmap.Remove(dir) != nil {
					continue // the name was the decoy, or moved, at some step
				}
				removed++
				swaps.Stop()
				switch w := where(); w {
				case "":
					t.Fatalf("try %d: Remove(%s) returned nil and deleted the %s that another program exchanged with the directory", tries, dir, decoy)
				case dir:
					// Remove found the decoy under the name and left it,
					// and the emptied directory where it went.
					if err := os.Rename(dir, filepath.Join(root, "tmp")); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(other, dir); err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
					if err := os.Rename(filepath.Join(root, "tmp"), other); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
					t.Fatal(err) // an emptied directory Remove left
				}
				datasetAt(t, dir)
				swaps.Restart()
			}
			t.Logf("%d tries, %d Removes returned nil", tries, removed)
		})
	}
}
