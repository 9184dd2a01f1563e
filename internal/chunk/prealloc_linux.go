package chunk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

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
