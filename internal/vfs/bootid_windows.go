package vfs

import (
	"fmt"

	"golang.org/x/sys/windows"
)

var getTickCount64 = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount64")

// readBootID returns the second the machine booted: the system's clock
// minus the milliseconds since boot. A clock change or a reading that
// straddles a second boundary makes it differ within one boot too, which
// callers treat as a restart: the safe side. The clock is the system's,
// not time.Now: inside a testing/synctest bubble time.Now is the bubble's
// own clock (it starts in the year 2000), and the ID the process keeps
// would then differ from every other process's of the same boot.
func readBootID() (string, error) {
	if getTickCount64.Find() != nil {
		return "", nil
	}
	ms, _, _ := getTickCount64.Call()
	var now windows.Filetime
	windows.GetSystemTimeAsFileTime(&now)
	boot := (now.Nanoseconds() - int64(ms)*1e6) / 1e9
	return fmt.Sprintf("boot:%d", boot), nil
}
