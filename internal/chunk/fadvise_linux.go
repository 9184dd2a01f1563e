package chunk

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// fadvise passes the hint to posix_fadvise(2), which steers the page
// cache's read-ahead for pread and pwrite, and reads in or drops pages;
// WillNeed for a range of n > 0 bytes in pieces the kernel reads whole
// (see willNeedPiece), so that all of the range is read, and for the whole
// file (n 0) as one hint, which reads its first window.
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
	if a != WillNeed || n == 0 {
		return unix.Fadvise(fd, off, n, advice)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	piece := willNeedPiece(st.Dev)
	for o, end := off, off+n; o < end; o += piece {
		if err := unix.Fadvise(fd, o, min(piece, end-o), advice); err != nil {
			return err
		}
	}
	return nil
}

// minWillNeedPiece is the piece of a WillNeed hint where the device does not
// say its own (see willNeedPiece): 128 KiB, the default read-ahead window.
const minWillNeedPiece = 128 << 10

// willNeedPieces caches willNeedPiece by device.
var willNeedPieces sync.Map // uint64 → int64

// willNeedPiece returns how many bytes one POSIX_FADV_WILLNEED on a file of
// device dev reads in at most. The kernel reads no more than the larger of
// the file's read-ahead window and the device's largest request per call
// (force_page_cache_ra in mm/readahead.c): on a device with read_ahead_kb
// 8192, one hint for a 64 MiB chunk read 8 MiB of it, and one for 1 GiB as
// little. The device's queue says both (read_ahead_kb, max_sectors_kb; a
// partition's are its disk's); where it does not (tmpfs, network and
// stacked file systems), minWillNeedPiece is within every window. A
// file's window is never below its device's (FADV_SEQUENTIAL doubles it).
func willNeedPiece(dev uint64) int64 {
	if p, ok := willNeedPieces.Load(dev); ok {
		return p.(int64)
	}
	piece := int64(minWillNeedPiece)
	base := "/sys/dev/block/" + strconv.FormatUint(uint64(unix.Major(dev)), 10) + ":" + strconv.FormatUint(uint64(unix.Minor(dev)), 10)
	for _, q := range []string{base + "/queue/", base + "/../queue/"} {
		ra, okRA := readKB(q + "read_ahead_kb")
		ms, okMS := readKB(q + "max_sectors_kb")
		if okRA || okMS {
			piece = max(piece, ra, ms)
			break
		}
	}
	willNeedPieces.Store(dev, piece)
	return piece
}

// readKB reads a sysfs number of KiB and returns it in bytes.
func readKB(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || kb <= 0 || kb > 1<<30 {
		return 0, false
	}
	return kb << 10, true
}
