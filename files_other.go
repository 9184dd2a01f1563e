//go:build !unix

package chunkmap

import (
	"errors"
	"syscall"
)

// fileBudget is how many chunk files a Manager keeps open for pread and
// pwrite. Windows has no small per-process handle limit to share.
func fileBudget() int { return maxOpenFiles }

// isSpaceErr reports whether err says the disk or a quota has no room
// (ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL).
func isSpaceErr(err error) bool {
	return errors.Is(err, syscall.Errno(112)) || errors.Is(err, syscall.Errno(39))
}
