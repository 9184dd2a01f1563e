//go:build unix && !linux

package stop

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// awaitGone waits until the output out reports an error or a hang-up (its
// reader is gone: true) or wake, a pipe's reading end, reports its writing
// end closed (false). poll needs the descriptor of out held (Control)
// while it waits; the program may close the output meanwhile, and its
// Close then waits for Control to end (a descriptor in non-blocking mode),
// or the system closes the descriptor only then (a blocking one). So each
// poll lasts a moment, and a Control that fails (the output closed) ends
// the watch.
func awaitGone(out, wake syscall.RawConn) (gone bool) {
	for {
		var ended bool
		err := out.Control(func(ofd uintptr) {
			wake.Control(func(wfd uintptr) {
				fds := []unix.PollFd{{Fd: int32(ofd)}, {Fd: int32(wfd), Events: unix.POLLIN}}
				n, err := unix.Poll(fds, 100)
				switch {
				case err == unix.EINTR, err == nil && n == 0:
				case err != nil:
					ended = true
				default:
					gone = fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
					ended = gone || fds[1].Revents != 0 || fds[0].Revents&unix.POLLNVAL != 0
				}
			})
		})
		if err != nil || ended {
			return gone
		}
	}
}
