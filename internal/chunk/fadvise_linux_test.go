package chunk

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestWillNeedPiece checks the size of a WillNeed hint's pieces against the
// device's own figures: the larger of its read-ahead window and its largest
// request (a partition's are its disk's), and 128 KiB where the file's
// device has no queue in sysfs (tmpfs).
func TestWillNeedPiece(t *testing.T) {
	dev := func(path string) uint64 {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Dev
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err == nil && st.Type == unix.TMPFS_MAGIC {
		if got := willNeedPiece(dev("/dev/shm")); got != minWillNeedPiece {
			t.Errorf("tmpfs: willNeedPiece = %d, want %d", got, minWillNeedPiece)
		}
	}
	d := dev(t.TempDir())
	base := "/sys/dev/block/" + strconv.Itoa(int(unix.Major(d))) + ":" + strconv.Itoa(int(unix.Minor(d)))
	for _, q := range []string{base + "/queue/", base + "/../queue/"} {
		b, err := os.ReadFile(q + "read_ahead_kb")
		if err != nil {
			continue
		}
		ra, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		want := max(int64(minWillNeedPiece), ra<<10)
		if b, err := os.ReadFile(q + "max_sectors_kb"); err == nil {
			ms, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			want = max(want, ms<<10)
		}
		if got := willNeedPiece(d); got != want {
			t.Errorf("%s: willNeedPiece = %d, want %d", q, got, want)
		}
		return
	}
	t.Skipf("the temporary directory's device %d:%d has no queue in sysfs", unix.Major(d), unix.Minor(d))
}

// TestFadvise_WillNeedWholeFileIsOneHint checks the two forms of a WillNeed
// hint: over the whole file (n 0) one call, which reads the first window
// only (Options.Advice gives it so to every file a Manager opens, under
// the Manager's lock), and over a range all of it, in pieces.
func TestFadvise_WillNeedWholeFileIsOneHint(t *testing.T) {
	const size = 32 << 20
	dir := t.TempDir()
	c, err := Create(vfs.OS, dir, 0, size, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteAt(bytes.Repeat([]byte{7}, size), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, Name(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if willNeedPiece(st.Dev) >= size/2 {
		t.Skip("the device reads half the file or more on one hint")
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	resident := func() int {
		vec := make([]byte, size/os.Getpagesize())
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			t.Fatal(errno)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	pages := size / os.Getpagesize()
	for _, whole := range []bool{true, false} {
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			t.Fatal(err)
		}
		if n := resident(); n > pages/8 {
			t.Skipf("%d of %d pages stay cached after FADV_DONTNEED", n, pages)
		}
		n := int64(size)
		if whole {
			n = 0
		}
		if err := c.Fadvise(0, n, WillNeed); err != nil {
			t.Fatal(err)
		}
		got, last, moved := 0, -1, time.Now()
		for time.Since(moved) < 2*time.Second && got < pages {
			if got = resident(); got != last {
				last, moved = got, time.Now()
			}
			time.Sleep(20 * time.Millisecond)
		}
		switch {
		case whole && got >= pages/2:
			t.Errorf("one WillNeed hint over the whole file: %d of %d pages read in, want its first window", got, pages)
		case !whole && got < pages*99/100:
			t.Errorf("WillNeed over the file's range: %d of %d pages read in, want all", got, pages)
		}
	}
}
