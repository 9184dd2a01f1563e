//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package vfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// readBootID returns macOS's boot session UUID, new at every boot, and
// elsewhere the time the machine booted, to the microsecond. Where the
// system has no such value to give (no such sysctl name, or a sandbox
// that refuses it for good) it falls back: to the boot time, then to "",
// which callers take as "cannot tell". Any other failure is this read's,
// not the system's: it returns the error, as on Linux, for a value made up
// instead (the boot time where the UUID failed, or "") would differ from
// the one the boot's other processes read, and OS.BootID keeps the first
// value it returns for the life of the process.
func readBootID() (string, error) {
	id, err := unix.Sysctl("kern.bootsessionuuid") // macOS
	switch {
	case err == nil && id != "":
		return id, nil
	case err != nil && !sysctlAbsent(err):
		return "", os.NewSyscallError("sysctl kern.bootsessionuuid", err)
	}
	tv, err := unix.SysctlTimeval("kern.boottime")
	switch {
	case err == nil:
		return fmt.Sprintf("boottime:%d.%06d", tv.Sec, tv.Usec), nil
	case sysctlAbsent(err):
		return "", nil
	}
	return "", os.NewSyscallError("sysctl kern.boottime", err)
}

// sysctlAbsent says err is a sysctl's answer that the name does not exist
// here (ENOENT; OpenBSD's table of names answers EINVAL) or is refused for
// good (a sandbox's EPERM or EACCES): an answer every later read gets too.
func sysctlAbsent(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}
