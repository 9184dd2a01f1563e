//go:build linux

package chunkmap_test

// Helpers of the stress_*_test.go files: seeds that can be replayed, the
// kernel's own count of this process's mappings of a dataset's chunk files,
// and its count of open file descriptors.

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/procself"
)

// stressChunkMapped returns the bytes of this process's mappings of chunk
// files of dir, deleted ones included, as /proc/self/maps lists them.
func stressChunkMapped(t *testing.T, dir string) int64 {
	t.Helper()
	ms, err := procself.Maps()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, m := range ms {
		if strings.HasPrefix(m.Path, dir+"/") && strings.HasSuffix(m.Path, ".chunk") {
			total += m.Bytes()
		}
	}
	return total
}

// stressFDs returns how many file descriptors the process has open, and
// how many of them are files of dir.
//
// It opens a regular file first: the process's first os.File starts the
// runtime's poller, whose two descriptors (an epoll and an eventfd) stay
// open for good. Without it a test that runs first in its process (its
// binary run directly, not by go test, whose -test.testlogfile opens a file
// before any test) would count them after Open but not before, as a leak.
func stressFDs(t *testing.T, dir string) (all, ofDir int) {
	t.Helper()
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	fds, err := procself.FDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range fds {
		if strings.HasPrefix(l, dir+"/") {
			ofDir++
		}
	}
	return len(fds), ofDir
}

// stressCheckBound checks at a quiet moment (nothing held but holds that
// take at most extra chunk mappings: a chunk held in its slot takes one, a
// private view one per chunk) that Stats().Mapped is at most MaxMapped plus
// Stats().Pinned, that Stats().Pinned is at most extra (zero if extra is),
// and that the kernel lists exactly Stats().Mapped chunks' worth of
// mappings of dir's chunk files.
func stressCheckBound(t *testing.T, m *chunkmap.Manager, dir string, maxMapped, extra int, what string) {
	t.Helper()
	st := m.Stats()
	cs := m.ChunkSize()
	if st.Mapped > maxMapped+st.Pinned || st.Mapped > maxMapped+extra {
		t.Errorf("%s: Stats().Mapped = %d, want at most MaxMapped %d + %d held (Pinned %d)", what, st.Mapped, maxMapped, extra, st.Pinned)
	}
	if st.Pinned > extra {
		t.Errorf("%s: Stats().Pinned = %d, want at most %d", what, st.Pinned, extra)
	}
	if k := stressChunkMapped(t, dir); k != int64(st.Mapped)*cs {
		t.Errorf("%s: /proc/self/maps lists %d bytes (%.2f chunks) of chunk files mapped, Stats().Mapped = %d", what, k, float64(k)/float64(cs), st.Mapped)
	}
}

// stressErr reports an error that is neither nil, io.EOF, nor one of
// allowed, or that matches no sentinel.
func stressErr(t *testing.T, what string, err error, allowed ...error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	if msg := advErrCheck(err); msg != "" {
		t.Errorf("%s: %s", what, msg)
		return true
	}
	if err == io.EOF {
		return false
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return false
		}
	}
	t.Errorf("%s: unexpected error %v", what, err)
	return true
}

// stressYield yields, to let other goroutines evict meanwhile.
func stressYield() { runtime.Gosched() }
