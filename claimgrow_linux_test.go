package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestGrowDuringFailedBulkAppendKeepsItsChunks: Grow(n) promises that
// writes up to n bytes past Size neither create files nor fail for lack of
// space. A Grow that runs while a bulk Append is writing finds the chunks
// the Append's claim created, creates none, and allocates its bytes in
// them. When the Append then fails (ENOSPC on a later chunk) and gives its
// range back as the latest claim, those chunks must stay: a write inside
// the range Grow prepared must succeed on the full disk.
func TestGrowDuringFailedBulkAppendKeepsItsChunks(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	g := &claimGateFS{FS: vfs.OS, failFrom: 3, holdIdx: -1,
		writeSeen: make(chan struct{}), writeGate: make(chan struct{}),
		openSeen: make(chan struct{}), openGate: make(chan struct{})}
	m, dir := openOnFS(t, g)
	if _, err := m.Append([]byte("head")); err != nil {
		t.Fatal(err)
	}
	g.failWrites.Store(true)
	appendErr := make(chan error, 1)
	go func() {
		_, err := m.Append(make([]byte, 3*cs)) // chunks 0 to 3; 1 to 3 created
		appendErr <- err
	}()
	select {
	case <-g.writeSeen:
	case <-time.After(claimWatchdog):
		t.Fatal("the bulk Append never reached its pwrite of chunk 3")
	}
	// Size is 4: Grow(cs) prepares [4, cs+4), in chunks 0 and 1.
	if err := m.Grow(cs); err != nil {
		close(g.writeGate)
		t.Fatalf("Grow: %v", err)
	}
	close(g.writeGate)
	if err := <-appendErr; !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("bulk Append: %v, want ErrNoSpace", err)
	}
	g.failWrites.Store(false)
	if _, err := os.Stat(filepath.Join(dir, "0000000000000001.chunk")); err != nil {
		t.Errorf("chunk 1, which Grow(%d) prepared, is gone after the failed Append: %v", cs, err)
	}
	// The disk is full now: a write inside what Grow prepared must not
	// need space.
	g.fullDisk.Store(true)
	if _, err := m.WriteAt([]byte("x"), cs+1); err != nil {
		t.Errorf("WriteAt inside the range Grow(%d) prepared, on a full disk: %v", cs, err)
	}
	g.fullDisk.Store(false)
}
