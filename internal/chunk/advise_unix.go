//go:build unix

package chunk

import "golang.org/x/sys/unix"

func advise(b []byte, a Advice) error {
	var advice int
	switch a {
	case Normal:
		advice = unix.MADV_NORMAL
	case Sequential:
		advice = unix.MADV_SEQUENTIAL
	case Random:
		advice = unix.MADV_RANDOM
	case WillNeed:
		advice = unix.MADV_WILLNEED
	case DontNeed:
		advice = unix.MADV_DONTNEED
	default:
		return unix.EINVAL
	}
	return unix.Madvise(b, advice)
}
