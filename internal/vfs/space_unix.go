//go:build unix

package vfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Avail returns the bytes available to an unprivileged user that st, a
// statfs(2) of a file system, reports: f_bavail × f_bsize. A file system
// that counts no blocks at all (ramfs, a tmpfs mounted with size=0, some
// FUSE file systems) has no limit it can report, and reports 0 free:
// that is an error wrapping errors.ErrUnsupported, not 0 bytes, so that
// callers do not refuse growth the file system would take.
func Avail(st *unix.Statfs_t) (int64, error) {
	if st.Blocks == 0 {
		return 0, fmt.Errorf("statfs: %w: the file system reports no block counts", errors.ErrUnsupported)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
