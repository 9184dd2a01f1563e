package chunk

import "golang.org/x/sys/unix"

// fadvise passes the hint to posix_fadvise(2), which steers the page
// cache's read-ahead for pread and pwrite, and reads in or drops pages.
func fadvise(c *File, off, n int64, a Advice) error {
	var advice int
	switch a {
	case Normal:
		advice = unix.FADV_NORMAL
	case Sequential:
		advice = unix.FADV_SEQUENTIAL
	case Random:
		advice = unix.FADV_RANDOM
	case WillNeed:
		advice = unix.FADV_WILLNEED
	case DontNeed:
		advice = unix.FADV_DONTNEED
	default:
		return unix.EINVAL
	}
	return unix.Fadvise(int(c.f.OS().Fd()), off, n, advice)
}
