package chunk

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
