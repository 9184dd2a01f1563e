//go:build linux

package chunkmap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestRemove_LongDirNameRemovesDir: Remove deletes the emptied directory
// whatever the length of its name. The directory is renamed aside before
// it is removed (rmdir_linux.go); an aside name built by adding to the
// directory's own name exceeded NAME_MAX (255 bytes) for names longer than
// about 230 bytes, and Remove then failed with ENAMETOOLONG, leaving the
// emptied directory, where os.Remove had removed it.
func TestRemove_LongDirNameRemovesDir(t *testing.T) {
	for _, n := range []int{200, 240, 255} {
		dir := filepath.Join(t.TempDir(), strings.Repeat("d", n))
		datasetAt(t, dir)
		if err := chunkmap.Remove(dir); err != nil {
			t.Errorf("name of %d bytes: Remove: %v", n, err)
		}
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Errorf("name of %d bytes: the emptied directory is still there (Lstat: %v)", n, err)
		}
		entries, _ := os.ReadDir(filepath.Dir(dir))
		for _, e := range entries {
			t.Errorf("name of %d bytes: left in the parent: %s", n, e.Name())
		}
	}
}
