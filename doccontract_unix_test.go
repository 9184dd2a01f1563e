//go:build unix

package chunkmap_test

// Doc-contract tests (see doccontract_test.go) that need the fault-injecting
// file system of errcontract_test.go, which is built on Unix only.

import (
	"errors"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestDocContract_SyncFailedSticky: ErrSyncFailed is returned "from then on
// by every Sync and write of that Manager" (zero-length writes included:
// WriteAt "unless ... a Sync has failed"), and "reads still work until
// then"; the refused writes change neither Size nor Start.
// TestErrorContract_Sync checks the messages of the common writes; this
// checks every other call that writes.
func TestDocContract_SyncFailedSticky(t *testing.T) {
	o, f := faulty()
	m, _ := ecDataset(t, o, 3*ecChunk)
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, chunk.Name(1)), Err: syscall.EIO})
	if err := m.Sync(); !errors.Is(err, chunkmap.ErrSyncFailed) {
		t.Fatalf("Sync with a failing fsync = %v, want ErrSyncFailed", err)
	}
	size := m.Size()
	p := make([]byte, 4)
	batch := func(fn func(b *chunkmap.Batch) error) func() error {
		return func() error { return m.Batch(fn) }
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"WriteAt/empty", func() error { _, err := m.WriteAt(nil, 12); return err }},
		{"WriteAt/past size", func() error { _, err := m.WriteAt(p, size+100); return err }},
		{"Append/empty", func() error { _, err := m.Append(nil); return err }},
		{"Grow", func() error { return m.Grow(ecChunk) }},
		{"Truncate/up", func() error { return m.Truncate(size + 10) }},
		{"DropBefore", func() error { return m.DropBefore(ecChunk) }},
		{"Scatter", func() error { return m.Scatter(p, []int64{12}, 4) }},
		{"StoreUint64", func() error { return m.StoreUint64(16, 1) }},
		{"AddUint32", func() error { _, err := m.AddUint32(12, 1); return err }},
		{"AddUint64", func() error { _, err := m.AddUint64(16, 1); return err }},
		{"CompareAndSwapUint32", func() error { _, err := m.CompareAndSwapUint32(12, 0, 1); return err }},
		{"CompareAndSwapUint64", func() error { _, err := m.CompareAndSwapUint64(16, 0, 1); return err }},
		{"PinWritable/empty", func() error { _, err := m.PinWritable(12, 0); return err }},
		{"Batch.WritableBytes", batch(func(b *chunkmap.Batch) error { _, err := b.WritableBytes(12, 4); return err })},
		{"Batch.WritableBytes/empty", batch(func(b *chunkmap.Batch) error { _, err := b.WritableBytes(12, 0); return err })},
		{"Batch.HoldWritable", batch(func(b *chunkmap.Batch) error { return b.HoldWritable(12, 4) })},
	}
	for _, w := range writes {
		if err := w.do(); !errors.Is(err, chunkmap.ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
			t.Errorf("%s after a failed fsync = %v, want ErrSyncFailed with EIO", w.name, err)
		}
	}
	if m.Size() != size || m.Start() != 0 {
		t.Errorf("after refused writes: Start, Size = %d, %d, want 0, %d", m.Start(), m.Size(), size)
	}
	if _, err := m.ReadAt(p, 16); err != nil {
		t.Errorf("ReadAt after a failed fsync: %v", err)
	}
	if _, err := m.LoadUint64(16); err != nil {
		t.Errorf("LoadUint64 after a failed fsync: %v", err)
	}
	if err := m.Gather(p, []int64{12}, 4); err != nil {
		t.Errorf("Gather after a failed fsync: %v", err)
	}
}
