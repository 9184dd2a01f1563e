package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// readBootID returns the kernel's random boot ID, new at every boot. Where
// the system has none to read (a chroot or a sandbox without /proc, or
// one that hides the file) it returns the boot's clock identity instead
// (bootClocks). Any other failure (no descriptor left, say) is this
// read's, not the system's: it returns the error, for the next read may
// well succeed, and the clocks' identity differs from the one the other
// processes of the boot read.
func readBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	switch {
	case err == nil && len(b) >= 36:
		return string(b[:36]), nil
	case err == nil, errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission), errors.Is(err, unix.ENOTDIR):
		return bootClocks(), nil
	}
	return "", err
}

// bootClocks returns the second the machine booted: the wall clock less
// the time since boot (CLOCK_BOOTTIME, which counts suspended time too), as
// on Windows. Within one boot it stays the same unless the wall clock is
// set: a step of any size (NTP's, say) may move it across a second
// boundary, and so may the instant between the two readings. A value that
// moved reads as a restart: the safe side, where the page cache is not
// trusted to have survived. A restart gives the same value only if the
// machine's clock puts its new boot within the same second as the old one,
// which a clock that runs on across restarts cannot; one that starts from
// a fixed time at every boot can, and so gives "" here: a boot before
// minBootSecond (1970, where a machine without a clock chip starts).
// Machines with no clock chip that restore a saved time at boot, with no
// network to correct it and no /proc either, are the case left: if the
// saved time is the same at two boots, a power loss between them is taken
// for a crash of the process, and the state page's Size is trusted over
// bytes that may not have reached the disk.
func bootClocks() string {
	var wall, up unix.Timespec
	if unix.ClockGettime(unix.CLOCK_REALTIME, &wall) != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &up) != nil {
		return ""
	}
	sec := wall.Sec - up.Sec
	if wall.Nsec < up.Nsec {
		sec--
	}
	if sec < minBootSecond {
		return ""
	}
	return fmt.Sprintf("boottime:%d", sec)
}

// minBootSecond is 2020-01-01T00:00:00Z: a wall clock that says the
// machine booted before it has not been set.
const minBootSecond = 1577836800
