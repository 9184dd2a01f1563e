//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package chunkmap_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestRemove_ParentNotReadable: removing a directory takes write and search
// permission on its parent, not read permission, and Remove deletes the
// emptied directory where its parent is not readable (mode 0o300), as
// os.Remove did. The directory is removed through its parent
// (vfs.boundFS.removeSelf), which opened the parent for reading, and
// failed with EACCES. Root reads every directory: run as another user.
func TestRemove_ParentNotReadable(t *testing.T) {
	if unpriv.Run(t) {
		return // root reads any directory
	}
	parent := filepath.Join(t.TempDir(), "parent")
	if err := os.Mkdir(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "ds")
	datasetAt(t, dir)
	if err := os.Chmod(parent, 0o300); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(parent, 0o700) })
	if err := chunkmap.Remove(dir); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("the emptied directory is still there (Lstat: %v)", err)
	}
}
