package chunk

import (
	"errors"
	"fmt"
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
//
// Only the whole pages (or file system blocks, where larger) of the range
// are left to FALLOC_FL_ZERO_RANGE; the partial ones at its ends are
// written. XFS writes back and drops from the page cache every page the
// range touches, rounded out, and zeroes a large folio's part of it in
// place first: the bytes before off (and past off+n) in the same page,
// which stay live, read as zeros through a mapping or read(2) for an
// instant, and a store to them between the write-back and the drop is
// lost.
func zeroRange(f *os.File, off, n int64) error {
	lo, hi := pageRange(f, off, n)
	if lo >= hi {
		return zeroWrite(f, off, n)
	}
	if err := zeroWrite(f, off, lo-off); err != nil {
		return err
	}
	if err := zeroWrite(f, hi, off+n-hi); err != nil {
		return err
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, lo, hi-lo)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return zeroWrite(f, lo, hi-lo)
	}
	return err
}

// pageRange returns [lo, hi), the whole pages (or file system blocks, where
// larger) of [off, off+n) of f; lo >= hi if there is none.
func pageRange(f *os.File, off, n int64) (lo, hi int64) {
	align := int64(os.Getpagesize())
	var st unix.Statfs_t
	// (f_bsize is 32 bits wide on 32-bit platforms.) A file system that
	// reports a huge preferred size (some FUSE ones) gets its zeros
	// written, up to that size at each end, rather than fallocated.
	if unix.Fstatfs(int(f.Fd()), &st) == nil && int64(st.Bsize) > align && int64(st.Bsize) <= 1<<20 {
		align = int64(st.Bsize)
	}
	return (off + align - 1) &^ (align - 1), (off + n) &^ (align - 1)
}

// discardRange deallocates the whole pages (or file system blocks, where
// larger) of [off, off+n) of f with FALLOC_FL_PUNCH_HOLE, so that they read
// as zeros and take no space, and writes zeros over the partial ones at its
// ends, as zeroRange does (see there why). Where the file system cannot
// punch holes it returns an error matching errors.ErrUnsupported, having
// changed nothing.
func discardRange(f *os.File, off, n int64) error {
	lo, hi := pageRange(f, off, n)
	if lo >= hi {
		return zeroWrite(f, off, n)
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, lo, hi-lo)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("punch a hole: %w: %w", errors.ErrUnsupported, err)
	}
	if err != nil {
		return err
	}
	if err := zeroWrite(f, off, lo-off); err != nil {
		return err
	}
	return zeroWrite(f, hi, off+n-hi)
}
