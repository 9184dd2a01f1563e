package stop

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// awaitGone waits until the output out reports an error or a hang-up (its
// reader is gone: true) or wake, a pipe's reading end, reports its writing
// end closed (false). It waits in epoll, where out is registered in a
// brief Control: an epoll set holds no reference to the file, so the
// program may close the output meanwhile, and its Close returns at once
// (a descriptor in non-blocking mode waits in Close for every Control) and
// ends the output (a blocking one is closed by the system only once no
// Control holds it): the file then leaves the set, and the wait goes on
// until wake. A descriptor of out held through the wait, as poll needs,
// did neither until Release.
func awaitGone(out, wake syscall.RawConn) (gone bool) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(ep)
	// Error and hang-up are always reported: no other event is asked for.
	const outTag, wakeTag = 1, 2
	added := false
	if out.Control(func(fd uintptr) {
		added = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Fd: outTag}) == nil
	}) != nil || !added {
		return false
	}
	// Control keeps wake open while epoll waits on it (Release closes it
	// only after the watch ended).
	wake.Control(func(fd uintptr) {
		if unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeTag}) != nil {
			return
		}
		var evs [2]unix.EpollEvent
		for {
			n, err := unix.EpollWait(ep, evs[:], -1)
			if err == unix.EINTR {
				continue
			}
			for _, ev := range evs[:max(n, 0)] {
				if ev.Fd == outTag && ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
					gone = true
				}
			}
			return
		}
	})
	return gone
}
