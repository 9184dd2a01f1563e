//go:build linux

package chunkmap_test

// Tests of a dataset on a small tmpfs that fills up and frees again at
// random moments, under every kind of call: each call either succeeds or
// fails with a sentinel and leaves the dataset as its documentation says,
// and after the space comes back everything that was acknowledged reads
// back, before and after a reopen.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// hfsModel is the oracle of the hostile-file-system tests: data[i] is the
// byte at offset i for offsets below Size; bytes below start are not
// checked.
type hfsModel struct {
	start int64
	data  []byte
}

func (md *hfsModel) size() int64 { return int64(len(md.data)) }

func (md *hfsModel) write(p []byte, off int64) {
	if end := off + int64(len(p)); end > md.size() {
		md.data = append(md.data, make([]byte, end-md.size())...)
	}
	copy(md.data[off:], p)
}

func (md *hfsModel) truncate(size int64) {
	if size <= md.size() {
		md.data = md.data[:size:size]
		return
	}
	md.data = append(md.data, make([]byte, size-md.size())...)
}

// check compares m with md: Start, Size and every byte in [Start, Size).
func (md *hfsModel) check(t *testing.T, m *chunkmap.Manager, when string) {
	t.Helper()
	if m.Start() != md.start || m.Size() != md.size() {
		t.Fatalf("%s: Start, Size = %d, %d, want %d, %d", when, m.Start(), m.Size(), md.start, md.size())
	}
	got := make([]byte, md.size()-md.start)
	if n, err := m.ReadAt(got, md.start); n != len(got) || (err != nil && len(got) > 0) {
		t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v", when, len(got), md.start, n, err)
	}
	if i := firstDiff(got, md.data[md.start:]); i >= 0 {
		off := md.start + int64(i)
		t.Fatalf("%s: byte at offset %d (chunk %d) = %#x, want %#x", when, off, off/cs, got[i], md.data[off])
	}
}

// hfsSentinels are the errors every failure of the library must match one
// of (README, "Errors").
var hfsSentinels = []error{
	chunkmap.ErrClosed, chunkmap.ErrReadOnly, chunkmap.ErrOutOfRange, chunkmap.ErrCorrupt,
	chunkmap.ErrLocked, chunkmap.ErrInvalidOptions, chunkmap.ErrUnaligned, chunkmap.ErrNoSpace,
	chunkmap.ErrBusy, chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrSyncFailed,
}

// hfsWantSentinel fails unless err matches one of the sentinels.
func hfsWantSentinel(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range hfsSentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Errorf("%s: error %v matches no sentinel", what, err)
}

// hfsFillPath fills the file system of path to the last byte by appending
// to the file at path.
func hfsFillPath(t *testing.T, path string) {
	t.Helper()
	fillDisk(t, filepath.Dir(path), filepath.Base(path))
}

// TestHostileFS_DiskFullRandom runs random WriteAt, Append, Truncate,
// DropBefore, Grow, Sync and reopen calls on a dataset in a 6 MiB tmpfs
// that a filler file fills to the last byte and empties again at random
// moments. It proves that on a full disk
//   - every failure matches a sentinel, and those of writes that need new
//     blocks match ErrNoSpace;
//   - a failed Append, Grow or write past Size leaves Size as it was;
//   - Truncate down, DropBefore, Sync, Close and a read-write Open of the
//     existing dataset need no new block and succeed;
//   - a failure never poisons the Manager: once space is free the same
//     calls succeed;
//
// and that after all that every acknowledged byte reads back, from the
// open Manager and after a reopen.
func TestHostileFS_DiskFullRandom(t *testing.T) {
	seed := testSeed(t, "HOSTILEFS_SEED")
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	root := mountTmpfs(t, 6<<20)
	dir := filepath.Join(root, "ds")
	filler := filepath.Join(root, "filler")
	opts := &chunkmap.Options{ChunkSize: cs, MaxMapped: 3}
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	var md hfsModel
	full := false
	const maxSize = 40 * cs // 2.5 MiB of data at most
	deadline := time.Now().Add(stormFor(8 * time.Second))
	steps, failures := 0, 0
	for ; steps < 3000 && time.Now().Before(deadline); steps++ {
		what := ""
		var err error
		switch op := r.IntN(100); {
		case op < 6:
			if full {
				if err := os.Truncate(filler, 0); err != nil {
					t.Fatal(err)
				}
			} else {
				hfsFillPath(t, filler)
			}
			full = !full
			continue
		case op < 30: // WriteAt anywhere from Start to a little past Size
			n := 1 + r.IntN(3)*r.IntN(cs+cs/2)
			off := md.start + r.Int64N(md.size()-md.start+2*cs)
			if off+int64(n)-md.start > maxSize {
				continue
			}
			p := pattern(uint64(steps), n)
			what = fmt.Sprintf("step %d: WriteAt(%d bytes at %d), Size %d", steps, n, off, md.size())
			var k int
			k, err = m.WriteAt(p, off)
			if err == nil {
				md.write(p, off)
				break
			}
			if off+int64(n) > md.size() && m.Size() != md.size() {
				t.Fatalf("%s failed (%v) but moved Size to %d", what, err, m.Size())
			}
			// Bytes inside Size may have been written in part (k says
			// how many at least): take what the dataset now holds.
			if hi := min(off+int64(n), md.size()); off < hi {
				got := make([]byte, hi-off)
				if _, rerr := m.ReadAt(got, off); rerr != nil {
					t.Fatalf("%s failed (%v), then ReadAt of its range: %v", what, err, rerr)
				}
				if i := firstDiff(got[:min(k, len(got))], p[:min(k, len(got))]); i >= 0 {
					t.Fatalf("%s returned n=%d, %v, but byte %d of it is not there", what, k, err, i)
				}
				copy(md.data[off:], got)
			}
		case op < 55: // Append
			n := 1 + r.IntN(3)*r.IntN(cs+cs/2)
			if md.size()+int64(n)-md.start > maxSize {
				continue
			}
			p := pattern(uint64(steps)<<1, n)
			what = fmt.Sprintf("step %d: Append(%d bytes), Size %d", steps, n, md.size())
			var off int64
			off, err = m.Append(p)
			if err == nil {
				if off != md.size() {
					t.Fatalf("%s = %d, want %d", what, off, md.size())
				}
				md.write(p, off)
			} else if m.Size() != md.size() {
				t.Fatalf("%s failed (%v) but moved Size to %d", what, err, m.Size())
			}
		case op < 65: // Truncate
			size := md.start + r.Int64N(md.size()-md.start+cs)
			what = fmt.Sprintf("step %d: Truncate(%d), Size %d", steps, size, md.size())
			err = m.Truncate(size)
			if err == nil {
				md.truncate(size)
			} else if size <= md.size() {
				t.Fatalf("%s (down) failed: %v; it needs no space", what, err)
			} else if m.Size() != md.size() {
				t.Fatalf("%s failed (%v) but moved Size to %d", what, err, m.Size())
			}
		case op < 70: // DropBefore
			off := md.start + r.Int64N(min(md.size()-md.start, 2*cs)+1)
			what = fmt.Sprintf("step %d: DropBefore(%d), Start %d", steps, off, md.start)
			if err = m.DropBefore(off); err != nil {
				t.Fatalf("%s failed: %v; it needs no space", what, err)
			}
			md.start = max(md.start, off/cs*cs)
		case op < 75: // Grow
			n := r.Int64N(3 * cs)
			what = fmt.Sprintf("step %d: Grow(%d)", steps, n)
			if err = m.Grow(n); err != nil && m.Size() != md.size() {
				t.Fatalf("%s failed (%v) but moved Size to %d", what, err, m.Size())
			}
		case op < 92:
			what = fmt.Sprintf("step %d: Sync", steps)
			if err = m.Sync(); err != nil {
				t.Fatalf("%s failed on a disk that is full=%v: %v", what, full, err)
			}
		case op < 96:
			what = fmt.Sprintf("step %d: Close and Open", steps)
			if err := m.Close(); err != nil {
				t.Fatalf("%s: Close (full=%v): %v", what, full, err)
			}
			if m, err = chunkmap.Open(dir, opts); err != nil {
				t.Fatalf("%s: Open (full=%v): %v", what, full, err)
			}
			md.check(t, m, what)
		default:
			md.check(t, m, fmt.Sprintf("step %d (full=%v)", steps, full))
		}
		if err != nil {
			failures++
			hfsWantSentinel(t, what, err)
			if !full {
				t.Fatalf("%s failed with space free: %v", what, err)
			}
			if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Errorf("%s on a full disk: %v, want ErrNoSpace", what, err)
			}
		}
	}
	t.Logf("%d steps, %d failed for lack of space; Start %d, Size %d", steps, failures, md.start, md.size())
	md.check(t, m, "at the end, before freeing space")
	if err := os.Remove(filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	// With space back, every kind of write works again.
	p := pattern(seed, 3*cs/2)
	off, err := m.Append(p)
	if err != nil {
		t.Fatalf("Append once space is free: %v", err)
	}
	md.write(p, off)
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if m, err = chunkmap.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	md.check(t, m, "after the last reopen")
}
