package chunk

import "os"

// preallocate extends f to size bytes. On NTFS SetEndOfFile allocates the
// clusters of a file that is not marked sparse, so a full disk fails here.
func preallocate(f *os.File, size int64) error {
	return f.Truncate(size)
}

// zeroRange zeroes [off, off+n) of f by writing zeros.
func zeroRange(f *os.File, off, n int64) error {
	return zeroWrite(f, off, n)
}
