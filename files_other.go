//go:build !unix && !windows

package chunkmap

import (
	"errors"
	"math"
	"syscall"
)

// processFileBudget is how many chunk files the Managers of the process
// keep open between them: no bound beyond each Manager's own here.
func processFileBudget() int64 { return math.MaxInt64 }

// filesRefused reports whether err is the system refusing to open a file
// for want of descriptors.
func filesRefused(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// isSpaceErr reports whether err says the disk has no room.
func isSpaceErr(err error) bool { return errors.Is(err, syscall.ENOSPC) }
