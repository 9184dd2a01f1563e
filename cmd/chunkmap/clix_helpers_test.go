//go:build linux

package main

// Helpers of the clix_* tests: black-box checks of the chunkmap command on
// damaged and hostile datasets. They reuse newDataset, snapshot,
// checkUnchanged, want and lostRanges of the package's own tests.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// clixTimeout is how long one command may take before the test calls it
// hung. It is a watchdog, not a measure of speed: a command here takes well
// under a second alone, but several seconds under -race beside the rest of
// CI on a loaded machine, and a hang never returns.
const clixTimeout = 60 * time.Second

// clixRun runs the command line in this process, like runCmd, but fails
// the test if it does not return within clixTimeout (a read that blocks on
// a FIFO, a loop over a huge sparse file).
func clixRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		c := run(args, &out, &errOut)
		done <- result{c, out.String(), errOut.String()}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.err
	case <-time.After(clixTimeout):
		t.Fatalf("chunkmap %q did not return within %v", args, clixTimeout)
		return 0, "", ""
	}
}

// clixDamage is one way to damage chunk 2 of newDataset's dataset (bytes
// [131072, 196608)), and the lost range it causes.
type clixDamage struct {
	name   string
	damage func(t *testing.T, dir string)
	lost   [2]int64
}

// clixChunkDamages replaces chunk 2 with every kind of unreadable thing
// that stops root too (chmod does not).
func clixChunkDamages() []clixDamage {
	c2 := func(dir string) string { return filepath.Join(dir, chunk.Name(2)) }
	replace := func(t *testing.T, dir string, make func(path string) error) {
		t.Helper()
		remove(t, c2(dir))
		must(t, make(c2(dir)))
	}
	whole := [2]int64{2 * tcs, 3 * tcs}
	return []clixDamage{
		{"missing", func(t *testing.T, dir string) { remove(t, c2(dir)) }, whole},
		{"truncated", func(t *testing.T, dir string) { truncateChunk(t, dir, 2, 1000) }, [2]int64{2*tcs + 1000, 3 * tcs}},
		{"empty", func(t *testing.T, dir string) { truncateChunk(t, dir, 2, 0) }, whole},
		{"directory", func(t *testing.T, dir string) {
			replace(t, dir, func(p string) error { return os.Mkdir(p, 0o755) })
		}, whole},
		{"fifo", func(t *testing.T, dir string) {
			replace(t, dir, func(p string) error { return syscall.Mkfifo(p, 0o644) })
		}, whole},
		{"symlink to /dev/zero", func(t *testing.T, dir string) {
			replace(t, dir, func(p string) error { return os.Symlink("/dev/zero", p) })
		}, whole},
		{"symlink to a huge sparse file", func(t *testing.T, dir string) {
			huge := filepath.Join(filepath.Dir(dir), "huge")
			f, err := os.Create(huge)
			must(t, err)
			if err := f.Truncate(1 << 40); errors.Is(err, syscall.EFBIG) {
				f.Close()
				t.Skipf("the file system holds no file of 1 TiB (ext2 with small blocks): %v", err)
			} else {
				must(t, err)
			}
			must(t, f.Close())
			replace(t, dir, func(p string) error { return os.Symlink(huge, p) })
		}, whole},
		{"symlink to a good chunk", func(t *testing.T, dir string) {
			// A copy of the right size elsewhere: still not a regular file
			// under the chunk's name, so Open refuses it.
			good := filepath.Join(filepath.Dir(dir), "good.chunk")
			b, err := os.ReadFile(c2(dir))
			must(t, err)
			must(t, os.WriteFile(good, b, 0o644))
			replace(t, dir, func(p string) error { return os.Symlink(good, p) })
		}, whole},
		{"dangling symlink", func(t *testing.T, dir string) {
			replace(t, dir, func(p string) error { return os.Symlink("/nonexistent/chunk", p) })
		}, whole},
	}
}

// mkfifo makes a FIFO at path.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }
