package chunkmap

import (
	"errors"
	"math"
	"syscall"
)

// processFileBudget is how many chunk files the Managers of the process
// keep open between them: no bound beyond each Manager's own, as Windows
// has no small per-process handle limit to share.
func processFileBudget() int64 { return math.MaxInt64 }

// filesRefused reports whether err is the system refusing to open a file
// for want of handles (ERROR_TOO_MANY_OPEN_FILES).
func filesRefused(err error) bool { return errors.Is(err, syscall.Errno(4)) }

// isSpaceErr reports whether err says the disk or a quota has no room
// (ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL).
func isSpaceErr(err error) bool {
	return errors.Is(err, syscall.Errno(112)) || errors.Is(err, syscall.Errno(39))
}
