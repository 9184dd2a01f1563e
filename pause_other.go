//go:build !unix && !windows

package chunkmap

import "time"

// pause sleeps for about 20 µs. These systems offer no sleep of the thread
// itself, so it is the Go runtime's, which in a testing/synctest bubble is
// the bubble's clock (see pause_unix.go).
func pause() { time.Sleep(20 * time.Microsecond) }
