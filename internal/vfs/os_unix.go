//go:build unix

package vfs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openFlags makes an open refuse a symlink and return at once on a FIFO
// (whose open would otherwise wait for a writer), so that a hostile entry
// under a dataset's names is refused by the type check after the open
// instead of hanging the caller; and it keeps a terminal device under such a
// name from becoming the controlling terminal of a program that has none
// (O_NOCTTY), which the open alone would do before the check refuses it.
const openFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY

// syncDir fsyncs directory dir (fsync(2): syncing a file does not sync the
// entry that names it).
func syncDir(dir string) error {
	// O_DIRECTORY: only a directory's EINVAL is taken as done (dirSynced);
	// anything else put under its name fails here.
	d, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	return errors.Join(dirSynced(d.Sync()), d.Close())
}

// dirSynced is err, the result of a directory's fsync, but nil for EINVAL:
// fsync(2) says EINVAL where the file does not support synchronization,
// which some file systems (vboxsf, several network and FUSE ones) answer
// for every directory. Nothing can make their entries durable, and taking
// that as a failed fsync would fail every Sync, and the creation of every
// dataset, there for good. A directory that can be synced does not fail so.
func dirSynced(err error) error {
	if errors.Is(err, unix.EINVAL) {
		return nil
	}
	return err
}
