//go:build unix

package chunkmap

import (
	"errors"

	"golang.org/x/sys/unix"
)

// fileBudget is how many chunk files a Manager keeps open for pread and
// pwrite: maxOpenFiles, or a quarter of the process's descriptor limit if
// that is less, so that the cache leaves room for the mappings' files and
// the rest of the program where the limit is low (some containers keep it
// at 1024).
func fileBudget() int {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return maxOpenFiles
	}
	return int(max(16, min(maxOpenFiles, r.Cur/4)))
}

// isSpaceErr reports whether err says the disk, a quota or the file size
// limit has no room.
func isSpaceErr(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.EFBIG)
}
