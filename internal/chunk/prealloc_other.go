//go:build !linux && !windows

package chunk

import "os"

// zeroRange zeroes [off, off+n) of f by writing zeros.
func zeroRange(f *os.File, off, n int64) error {
	return zeroWrite(f, off, n)
}
