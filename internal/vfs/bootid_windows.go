package vfs

import (
	"fmt"
	"time"

	"golang.org/x/sys/windows"
)

var getTickCount64 = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount64")

// readBootID returns the second the machine booted: the wall clock minus
// the milliseconds since boot. A clock change or a reading that straddles a
// second boundary makes it differ within one boot too, which callers
// treat as a restart: the safe side.
func readBootID() (string, error) {
	if getTickCount64.Find() != nil {
		return "", nil
	}
	ms, _, _ := getTickCount64.Call()
	boot := time.Now().Add(-time.Duration(ms) * time.Millisecond)
	return fmt.Sprintf("boot:%d", boot.Unix()), nil
}
