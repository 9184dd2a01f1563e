//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// deviceWritten returns how many bytes the block device that holds path
// has written since boot (/proc/diskstats, sectors of 512 bytes), and
// whether it could tell: the device counts every process's writes, so a
// benchmark that reports it compares contenders run in turn on a quiet
// host, and reads it as what reaches the disk, where /proc/self/io's
// write_bytes counts whole folios of page cache dirtied whatever part of
// them a write marked.
func deviceWritten(b *testing.B, path string) (int64, bool) {
	b.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		b.Fatal(err)
	}
	major, minor := strconv.FormatUint(uint64(unix.Major(st.Dev)), 10), strconv.FormatUint(uint64(unix.Minor(st.Dev)), 10)
	p, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		// "major minor name reads ... sectors-read ... writes ... sectors-written ..."
		f := bytes.Fields(sc.Bytes())
		if len(f) > 9 && string(f[0]) == major && string(f[1]) == minor {
			n, err := strconv.ParseInt(string(f[9]), 10, 64)
			return n * 512, err == nil
		}
	}
	return 0, false // a file system with no block device (tmpfs, say)
}
