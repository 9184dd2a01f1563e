package vfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// readBootID returns the kernel's random boot ID, new at every boot. Where
// it cannot be read (a chroot or a sandbox without /proc) it returns the
// boot's clock identity instead (bootClocks).
func readBootID() string {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil && len(b) >= 36 {
		return string(b[:36])
	}
	return bootClocks()
}

// bootClocks returns the second the machine booted: the wall clock less
// the time since boot (CLOCK_BOOTTIME, which counts suspended time too), as
// on Windows. Within one boot it stays the same, unless the wall clock is
// set (by NTP, say) by a second or more, or the reading straddles a second
// boundary, which callers take for a restart: the safe side, where a page
// cache that survived is not trusted. A restart gives the same value only
// if the machine's clock puts its new boot within the same second as the
// old one, which a clock that runs on across restarts cannot.
func bootClocks() string {
	var wall, up unix.Timespec
	if unix.ClockGettime(unix.CLOCK_REALTIME, &wall) != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &up) != nil {
		return ""
	}
	sec := wall.Sec - up.Sec
	if wall.Nsec < up.Nsec {
		sec--
	}
	return fmt.Sprintf("boottime:%d", sec)
}
