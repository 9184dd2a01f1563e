//go:build unix

package chunkmap

import (
	"errors"

	"golang.org/x/sys/unix"
)

// processFileBudget is how many chunk files the Managers of the process
// keep open between them for pread and pwrite: a quarter of the process's
// descriptor limit (at least 4), so that several Managers together leave
// the rest of the program (and their mappings' files) three quarters of it
// where the limit is low (some containers keep it at 1024). It is also
// their share for mapped chunks and themselves (fileMapBudget).
func processFileBudget() int64 {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 4 * minCacheShare
	}
	return int64(max(4, min(1<<20, r.Cur/4)))
}

// filesRefused reports whether err is the system refusing to open a file
// because the process (EMFILE) or the system (ENFILE) has as many open as
// it allows.
func filesRefused(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// isSpaceErr reports whether err says the disk, a quota or the file size
// limit has no room.
func isSpaceErr(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.EFBIG)
}
