package chunkmap

import "golang.org/x/sys/windows"

// pause blocks the calling thread for about a millisecond (the system's
// shortest sleep) in the system, not on the Go runtime's clock: see
// pause_unix.go.
func pause() { windows.SleepEx(1, false) }
