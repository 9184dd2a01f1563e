package chunk

import "golang.org/x/sys/unix"

// fadvise passes the hint to posix_fadvise(2), which steers the page
// cache's read-ahead for pread and pwrite, and reads in or drops pages;
// WillNeed in pieces of willNeedPiece, so that all of the range is read.
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
	fd := int(c.f.OS().Fd())
	if a != WillNeed {
		return unix.Fadvise(fd, off, n, advice)
	}
	end := off + n
	if n == 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		end = st.Size
	}
	for o := off; o < end; o += willNeedPiece {
		if err := unix.Fadvise(fd, o, min(willNeedPiece, end-o), advice); err != nil {
			return err
		}
	}
	return nil
}

// willNeedPiece is the most bytes one POSIX_FADV_WILLNEED (or MADV_WILLNEED,
// which Linux passes on as one) asks the kernel to read in. The kernel
// reads no more than the larger of the file's read-ahead window and the
// device's largest request per call (force_page_cache_ra in
// mm/readahead.c): on a device with read_ahead_kb 8192, one hint for a
// 64 MiB chunk read 8 MiB of it, and one for 1 GiB as little. 128 KiB,
// the default read-ahead window, is within every device's: a GiB takes
// 8,192 calls, a few milliseconds beside the reading they start.
const willNeedPiece = 128 << 10
