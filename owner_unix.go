//go:build unix

package chunkmap

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f, a new manifest file about to replace the one old
// describes, old's owner and group where they differ from f's. The
// manifest is opened for writing by every read-write Open (since format
// version 2), so a manifest rewritten by another user (root upgrading a
// service's dataset) that kept the writer's owner would lock the dataset's
// own user out of it. A user other than root cannot give a file away:
// then the error says who can do it, and the caller leaves the old file as
// it was.
func keepOwner(f *os.File, old fs.FileInfo) error {
	want, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	now, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || now.Uid == want.Uid && now.Gid == want.Gid {
		return nil
	}
	if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil {
		if now.Uid == want.Uid {
			return fmt.Errorf("keep the group of the manifest it replaces (group %d, which this user is not in; root can): %w", want.Gid, err)
		}
		return fmt.Errorf("keep the owner of the manifest it replaces (user %d, group %d; only root or that user can): %w", want.Uid, want.Gid, err)
	}
	return nil
}
