//go:build unix

package chunkmap

import "golang.org/x/sys/unix"

// pause blocks the calling thread for about 20 µs in the system (select(2)
// with no descriptors), not on the Go runtime's clock: a caller inside a
// testing/synctest bubble then wakes in real time, where a time.Sleep
// would wait for the bubble's clock, which moves only while every
// goroutine of the bubble is durably blocked, and one waiting for the
// Manager's lock never is. An interrupted pause is shorter: callers look
// again in a loop.
func pause() {
	tv := unix.Timeval{Usec: 20}
	unix.Select(0, nil, nil, nil, &tv)
}
