//go:build linux

package chunkmap_test

import (
	"errors"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestClose_WritableHoldKeepsRecovery stores through a writable pin, and
// through a Batch's writable bytes, after Close has synced (both stay
// mapped, and Close documents that such stores are in the file but not
// synced), then opens the dataset again and Syncs, and checks the image a
// power loss right after that Sync leaves. The stores are in the page
// cache, the new Manager reads them, and its Sync acknowledges every byte
// written before it: they must be in the image. Close marked the state
// page clean although a holder could still store, so the next Open took
// the dataset as closed with nothing unsynced, and its Sync fsync'd none
// of the chunks: a power loss lost the stores the Sync had acknowledged.
func TestClose_WritableHoldKeepsRecovery(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name  string
		store func(t *testing.T, m *chunkmap.Manager, off int64, b byte) (want byte)
	}{
		{"pin", func(t *testing.T, m *chunkmap.Manager, off int64, b byte) byte {
			t.Helper()
			p, err := m.PinWritable(off, 8)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			p.Bytes()[0] = b
			p.Release()
			return b
		}},
		{"batch", func(t *testing.T, m *chunkmap.Manager, off int64, b byte) byte {
			t.Helper()
			err := m.Batch(func(bt *chunkmap.Batch) error {
				p, err := bt.WritableBytes(off, 8)
				if err != nil {
					return err
				}
				if err := m.Close(); err == nil {
					t.Error("Close inside a Batch returned nil, want ErrBusy")
				}
				p[0] = b
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		// A chunk the Batch read before Close and asks to write after
		// it: Close saw no writable hold, so the Batch must not get one.
		{"batch read, then write after Close", func(t *testing.T, m *chunkmap.Manager, off int64, b byte) byte {
			t.Helper()
			var werr error
			err := m.Batch(func(bt *chunkmap.Batch) error {
				if _, err := bt.Bytes(off, 8); err != nil {
					return err
				}
				if err := m.Close(); err == nil {
					t.Error("Close inside a Batch returned nil, want ErrBusy")
				}
				p, err := bt.WritableBytes(off, 8)
				if werr = err; err != nil {
					return nil
				}
				p[0] = b
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if werr != nil {
				if !errors.Is(werr, chunkmap.ErrClosed) {
					t.Errorf("WritableBytes after Close = %v, want ErrClosed or the bytes", werr)
				}
				return 1 // refused: the byte synced before
			}
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, rec, opts, m := openRecordedSynced(t, cs)
			const off = cs + 16
			want := tc.store(t, m, off, 2)

			m2, err := chunkmap.Open(dir, &opts)
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			got := make([]byte, 1)
			if _, err := m2.ReadAt(got, off); err != nil || got[0] != want {
				t.Fatalf("ReadAt(%d) after reopening = %v, %v; want %d", off, got, err, want)
			}
			if err := m2.Sync(); err != nil {
				t.Fatal(err)
			}
			im, err := rec.Image(dir, vfstest.Cut{After: rec.Steps()})
			if err != nil {
				t.Fatal(err)
			}
			f, ok := im.File(chunkmap.ChunkFileName(1))
			if !ok || len(f.Data) != cs {
				t.Fatalf("image after the Sync: no whole chunk 1: %v", im)
			}
			if f.Data[off-cs] != want {
				t.Errorf("image after the Sync of the reopened dataset: byte %d = %d, want %d: the store it read and acknowledged is lost to a power loss", off, f.Data[off-cs], want)
			}
		})
	}
}
