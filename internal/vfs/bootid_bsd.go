//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package vfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// readBootID returns the time the machine booted, to the microsecond: it
// changes at every boot.
func readBootID() (string, error) {
	if id, err := unix.Sysctl("kern.bootsessionuuid"); err == nil && id != "" {
		return id, nil // macOS
	}
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil {
		return "", nil
	}
	return fmt.Sprintf("boottime:%d.%06d", tv.Sec, tv.Usec), nil
}
