package vfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// allocate allocates [off, off+n) of f with fallocate(2), keeping its size.
// File systems without fallocate give an error wrapping
// errors.ErrUnsupported: writing zeros instead could overwrite bytes a
// concurrent store put there.
func allocate(f *os.File, off, n int64) error {
	// Through the raw descriptor: f.Fd() would also switch the file to
	// blocking mode, a system call of its own on every allocation.
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) {
		err = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
	}); cerr != nil {
		return cerr
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("fallocate: %w: %w", errors.ErrUnsupported, err)
	}
	return err
}
