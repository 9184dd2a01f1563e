package chunk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// zeroRange zeroes [off, off+n) of f and keeps the blocks allocated.
// FALLOC_FL_ZERO_RANGE does this without writing the bytes on ext4 and xfs;
// elsewhere the zeros are written. It also takes them to the file where
// FALLOC_FL_ZERO_RANGE fails for lack of space: on a full ext4 whose
// blocks are smaller than a page it does so even over blocks the file
// has, when turning the range into unwritten extents splits the file's
// extents and needs a block for the extent tree. Writing zeros over
// blocks the file has needs no new one (their write-back draws on the
// blocks ext4 keeps for that), and fails by itself where they are holes.
func zeroRange(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return zeroWrite(f, off, n)
	}
	return err
}
