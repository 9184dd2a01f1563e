package chunk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate gives f size bytes of allocated, zeroed blocks. fallocate(2)
// with mode 0 allocates and extends in one call; file systems without it
// (EOPNOTSUPP, e.g. some network file systems) get zeros written instead, so
// the blocks are allocated either way.
func preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return zeroWrite(f, 0, size)
	}
	return err
}

// zeroRange zeroes [off, off+n) of f and keeps the blocks allocated.
// FALLOC_FL_ZERO_RANGE does this without writing the bytes on ext4 and xfs;
// elsewhere the zeros are written.
func zeroRange(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return zeroWrite(f, off, n)
	}
	return err
}
