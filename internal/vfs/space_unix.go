//go:build unix

package vfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Avail returns the bytes available to an unprivileged user that st, a
// statfs(2) of a file system, reports: f_bavail blocks of blockUnit bytes.
// A file system that counts no blocks at all (ramfs, a tmpfs mounted with
// size=0, some FUSE file systems) reports 0 free, which is no limit, not a
// full disk: for one that keeps its files in memory the memory is the
// limit (see memoryLimit), and for any other the result is an error
// wrapping errors.ErrUnsupported, so that callers do not refuse growth the
// file system would take.
func Avail(st *unix.Statfs_t) (int64, error) {
	if st.Blocks != 0 {
		return int64(st.Bavail) * blockUnit(st), nil
	}
	if n, ok := memoryLimit(st); ok {
		return n, nil
	}
	return 0, fmt.Errorf("statfs: %w: the file system reports no block counts", errors.ErrUnsupported)
}
