package chunkmap_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestDroppedManagersCloseTheirDescriptors opens Managers, writers and
// readers, and drops them without Close, as a program may: once the
// runtime has collected them, every descriptor they held (chunk files,
// the lock, the handles of the directory) must be closed, as a file's is.
// One held as a bare number, with nothing to close it, leaks for the
// life of the process.
func TestDroppedManagersCloseTheirDescriptors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	open := func() int {
		t.Helper()
		for range 5 {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(fds)
	}
	before := open()
	const n = 20
	base := t.TempDir()
	for i := range n {
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		// Small chunks: a dropped Manager keeps its arena's address
		// space until it is collected, which 32-bit platforms run short
		// of with 1 GiB chunks.
		w, err := chunkmap.Open(filepath.Join(base, fmt.Sprint(i)), &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(make([]byte, 8), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
	}
	// Cleanups run on the runtime's goroutine after a collection, later on
	// a loaded host: wait for them within a bound only a leak reaches.
	after := open()
	for deadline := time.Now().Add(time.Minute); after-before > 4 && time.Now().Before(deadline); {
		after = open()
	}
	if after-before > 4 {
		t.Errorf("%d Managers dropped without Close, once collected, left %d descriptors open", 2*n, after-before)
	}
}
