//go:build unix

package chunkmap_test

// Doc-contract tests (see doccontract_test.go) that need the fault-injecting
// file system of errcontract_test.go, which is built on Unix only.

import (
	"errors"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
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

// TestDocContract_SyncAfterStore: "A Sync that starts after a store through
// the pinned bytes makes it durable" (PinWritable, and the accessor's Slice),
// also while the pin is held and after a Sync in between; a Batch's
// WritableBytes and the accessor Batch's typed writes, as the writable
// chunk's "a Sync that starts after the store makes it durable", also after
// a Sync inside the batch; and Sync "visits only the queue": a chunk that
// was only read is not fsync'd. The oracle is whether the Sync after the
// case fsyncs chunk 0 (a Skip rule counts it).
func TestDocContract_SyncAfterStore(t *testing.T) {
	type env struct {
		m  *chunkmap.Manager
		va *accessor.ViewAccessor
	}
	sync := func(t *testing.T, m *chunkmap.Manager) {
		t.Helper()
		if err := m.Sync(); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	cases := []struct {
		name     string
		do       func(t *testing.T, e env)
		wantSync bool
	}{
		{"PinWritable/held", func(t *testing.T, e env) {
			p, err := e.m.PinWritable(8, 8)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Release)
			sync(t, e.m) // the store comes after a Sync that found the chunk clean
			p.Bytes()[0] = 7
		}, true},
		{"PinWritable/released", func(t *testing.T, e env) {
			p, err := e.m.PinWritable(8, 8)
			if err != nil {
				t.Fatal(err)
			}
			sync(t, e.m)
			p.Bytes()[0] = 7
			p.Release()
		}, true},
		{"Slice/held", func(t *testing.T, e env) {
			w, err := e.va.Slice(8, 8)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Release)
			sync(t, e.m)
			w.Bytes()[0] = 7
		}, true},
		{"Batch.WritableBytes/sync inside", func(t *testing.T, e env) {
			err := e.m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(8, 8)
				if err != nil {
					return err
				}
				sync(t, e.m)
				p[0] = 7
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}, true},
		{"accessor Batch/held writable, sync inside", func(t *testing.T, e env) {
			err := e.va.Batch(func(b *accessor.Batch) error {
				if err := b.HoldWritable(0, 2*ecChunk); err != nil {
					return err
				}
				if err := b.WriteUint64(16, 1); err != nil {
					return err
				}
				sync(t, e.m)
				return b.WriteUint64(8, 7) // the inlined store, no call
			})
			if err != nil {
				t.Fatal(err)
			}
		}, true},
		{"StoreUint64", func(t *testing.T, e env) {
			if err := e.m.StoreUint64(8, 7); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"Scatter", func(t *testing.T, e env) {
			if err := e.m.Scatter([]byte{7}, []int64{8}, 1); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"nothing", func(t *testing.T, e env) {}, false},
		{"Pin/read", func(t *testing.T, e env) {
			p, err := e.m.Pin(8, 8)
			if err != nil {
				t.Fatal(err)
			}
			_ = p.Bytes()[0]
			p.Release()
		}, false},
		{"LoadUint64", func(t *testing.T, e env) {
			if _, err := e.m.LoadUint64(8); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, f := faulty()
			o.MaxMapped, o.NoAdmission = 4, true
			m, _ := ecDataset(t, o, 2*ecChunk)
			if _, err := m.LoadUint64(0); err != nil { // map chunk 0
				t.Fatal(err)
			}
			sync(t, m)
			tc.do(t, env{m, accessor.New(m, nil)})
			r := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, chunk.Name(0)), Mode: vfstest.Skip})
			sync(t, m)
			if got := f.Fired(r) > 0; got != tc.wantSync {
				t.Errorf("the Sync after the case fsync'd chunk 0: %v, want %v", got, tc.wantSync)
			}
		})
	}
}
