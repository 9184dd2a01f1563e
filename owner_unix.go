//go:build unix

package chunkmap

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f, a new manifest file of mode perm about to replace the
// one old describes, old's owner and group where they differ from f's.
// The manifest is opened for writing by every read-write Open (since format
// version 2), so a manifest rewritten by another user (root upgrading a
// service's dataset) that kept the writer's owner would lock the dataset's
// own user out of it. A process may give a file away only with the
// privilege to (root, outside a user namespace or an NFS export that
// squashes it): where it may not, the error says what it could not keep,
// and the caller leaves the old file as it was. A group that perm grants
// nothing more than other users need not be kept (a file restored from a
// backup may have its owner's and a group the owner is not in).
func keepOwner(f *os.File, old fs.FileInfo, perm fs.FileMode) error {
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
	err = f.Chown(int(want.Uid), int(want.Gid))
	switch {
	case err == nil:
		return nil
	case now.Uid != want.Uid:
		return fmt.Errorf("keep the owner of the manifest it replaces (user %d, group %d), which this process may not give a file to (open the dataset read-write once as that user, or as root): %w", want.Uid, want.Gid, err)
	case (perm>>3)&^perm&0o7 == 0:
		return nil // the group grants no one more than others get
	default:
		return fmt.Errorf("keep the group of the manifest it replaces (group %d, whose bits in its mode grant more than other users get), which this process may not give a file to (open the dataset read-write once as a member of it, or as root): %w", want.Gid, err)
	}
}
