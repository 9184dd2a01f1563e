//go:build unix

package vfs

import (
	"errors"
	"io/fs"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirSynced: a directory fsync that the file system does not support
// (EINVAL) is no failure, and every other error stays as it was.
func TestDirSynced(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"EINVAL", &fs.PathError{Op: "sync", Path: "/d", Err: unix.EINVAL}, nil},
		{"EIO", &fs.PathError{Op: "sync", Path: "/d", Err: unix.EIO}, unix.EIO},
		{"ENOSPC", &fs.PathError{Op: "sync", Path: "/d", Err: unix.ENOSPC}, unix.ENOSPC},
	} {
		got := dirSynced(c.err)
		if c.want == nil && got != nil || c.want != nil && !errors.Is(got, c.want) {
			t.Errorf("%s: dirSynced(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	// A directory that can be synced still is.
	if err := syncDir(t.TempDir()); err != nil {
		t.Errorf("syncDir of a temporary directory: %v", err)
	}
}
