package chunkmap_test

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestClose_BusyAndFailedSyncBothReported checks that a Close inside a
// Batch function whose final sync also fails reports both: the failed
// sync (the caller must not trust the data) and ErrBusy (a batch still
// holds chunks mapped). Either alone misleads.
func TestClose_BusyAndFailedSyncBothReported(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	f := vfstest.NewFaulty(nil)
	opts := chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&opts, f)
	m, err := chunkmap.Open(filepath.Join(t.TempDir(), "ds"), &opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("dirty bytes"), 10); err != nil {
		t.Fatal(err)
	}
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, "*.chunk"), Err: syscall.EIO})
	var cerr error
	berr := m.Batch(func(b *chunkmap.Batch) error {
		if _, err := b.Bytes(0, 8); err != nil {
			return err
		}
		cerr = m.Close()
		return nil
	})
	if berr != nil {
		t.Fatalf("Batch: %v", berr)
	}
	if !errors.Is(cerr, chunkmap.ErrBusy) || !errors.Is(cerr, syscall.EIO) || !errors.Is(cerr, chunkmap.ErrSyncFailed) {
		t.Fatalf("Close inside a batch with the fsync failing: %v, want ErrBusy, ErrSyncFailed and EIO", cerr)
	}
}
