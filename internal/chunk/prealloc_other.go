//go:build !linux && !windows

package chunk

import (
	"errors"
	"fmt"
	"os"
)

// zeroRange zeroes [off, off+n) of f by writing zeros.
func zeroRange(f *os.File, off, n int64) error {
	return zeroWrite(f, off, n)
}

// discardRange reports that holes cannot be punched here: the caller zeroes
// the range instead.
func discardRange(f *os.File, off, n int64) error {
	return fmt.Errorf("punch a hole: %w", errors.ErrUnsupported)
}
