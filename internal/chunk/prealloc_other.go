//go:build !linux && !windows

package chunk

import "os"

// preallocate writes size bytes of zeros: without fallocate(2), writing is
// the portable way to make the file system allocate every block now, so a
// full disk fails here rather than as a SIGBUS on a later store through the
// mapping. ftruncate would make a sparse file.
func preallocate(f *os.File, size int64) error {
	return zeroWrite(f, 0, size)
}

// zeroRange zeroes [off, off+n) of f by writing zeros.
func zeroRange(f *os.File, off, n int64) error {
	return zeroWrite(f, off, n)
}
