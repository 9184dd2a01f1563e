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
// instead of hanging the caller.
const openFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK

// clearNonblock turns O_NONBLOCK off again on a regular file (where it has
// no effect on Linux, but might elsewhere).
func clearNonblock(f *os.File) error {
	fd := int(f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	return err
}

// syncDir fsyncs directory dir (fsync(2): syncing a file does not sync the
// entry that names it).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
