// Regression tests for bugs a review of the durability redesign found:
// each failed before its fix.

package chunkmap

import (
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

type countFS struct {
	vfs.FS
	syncDirs atomic.Int32
}

func (c *countFS) SyncDir(d string) error { c.syncDirs.Add(1); return c.FS.SyncDir(d) }

// R7: a recovering Open (process crash, same boot) resets dirDirty, so the
// first Sync records chunks whose names were never made durable.
func TestRegression_RecoveryForgetsDirSync(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	w.Append(make([]byte, 10))
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Append(make([]byte, 3*cs)) // creates chunks 1..3; no Sync
	w.mu.lock.unlock()           // SIGKILL
	c := &countFS{FS: vfs.OS}
	o := &Options{ChunkSize: cs}
	SetFS(o, c)
	w2, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	t.Logf("recovered size %d, dirDirty %v, dirty %d", w2.Size(), w2.mu.dirDirty, len(w2.mu.dirty))
	before := c.syncDirs.Load()
	if err := w2.Sync(); err != nil {
		t.Fatal(err)
	}
	if c.syncDirs.Load() == before {
		t.Errorf("Sync recorded size %d (chunks 1..3 created by the crashed process) without fsyncing the directory", w2.mu.durable.size)
	}
}
