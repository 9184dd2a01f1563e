//go:build unix && !linux

package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// clearNonblock turns O_NONBLOCK off again on a regular file. POSIX leaves
// its effect on regular files unspecified; Linux ignores it (os_linux.go),
// and elsewhere it is cleared rather than relied on.
func clearNonblock(f *os.File) error {
	fd := int(f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	return err
}

// clearNonblockFD is clearNonblock for a descriptor not yet made a file:
// os.NewFile gives a non-blocking descriptor to the poller, which on the
// BSDs and macOS takes a regular file (kqueue), at one more system call
// per open and to no use.
func clearNonblockFD(fd int) error { return unix.SetNonblock(fd, false) }
