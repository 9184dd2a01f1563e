//go:build unix

package chunkmap

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestFollow_WriterOpensDuringRead checks a reader opened on a dataset
// that no writer of this boot has opened (it follows the last record)
// whose read across two chunks meets the first writer of the boot: the
// writer opens while the read is between its chunks, cuts the dataset to
// nothing and grows it back, with zeros. The read must return the bytes
// of one side of that, never the old bytes of the chunk it had mapped
// beside the zeros of the chunk it opened after the cut, which the
// writer's Truncate promises a read it overtakes never sees. Pin and a
// Batch's Bytes, which hold the chunks instead, see the writer's
// deletions through the follow that opening chunk 1 makes.
func TestFollow_WriterOpensDuringRead(t *testing.T) {
	const cs = MinChunkSize
	tests := []struct {
		name string
		read func(r *Manager, p []byte) error // 16 bytes, across chunks 0 and 1
	}{
		{"ReadAt", func(r *Manager, p []byte) error {
			_, err := r.ReadAt(p, cs-8)
			return err
		}},
		{"Gather", func(r *Manager, p []byte) error {
			return r.Gather(p, []int64{cs - 8, cs}, 8)
		}},
		{"Pin", func(r *Manager, p []byte) error {
			pn, err := r.Pin(cs-8, len(p))
			if err != nil {
				return err
			}
			copy(p, pn.Bytes())
			pn.Release()
			return nil
		}},
		{"Batch", func(r *Manager, p []byte) error {
			return r.Batch(func(b *Batch) error {
				q, err := b.Bytes(cs-8, len(p))
				copy(p, q)
				return err
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Written in an earlier boot: its state page is not one to
			// follow.
			o := &Options{ChunkSize: cs}
			SetFS(o, vfstest.WithBootID(vfs.OS, "an earlier boot"))
			w0, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w0.Append(bytes.Repeat([]byte{'A'}, 2*cs)); err != nil {
				t.Fatal(err)
			}
			if err := w0.Close(); err != nil {
				t.Fatal(err)
			}

			h := &missHookFS{FS: vfs.OS, hookName: chunk.Name(1)}
			ro := &Options{ReadOnly: true, NoAdmission: true}
			SetFS(ro, h)
			r, err := Open(dir, ro)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			wantRead(t, r, 0, 8, 'A', "chunk 0, which the read maps")

			var fired atomic.Bool
			h.hook = func() {
				if fired.Swap(true) {
					return
				}
				w, err := Open(dir, &Options{ChunkSize: cs})
				if err != nil {
					t.Error(err)
					return
				}
				t.Cleanup(func() { w.Close() })
				if err := w.Truncate(0); err != nil {
					t.Error(err)
				}
				if err := w.Truncate(2 * cs); err != nil {
					t.Error(err)
				}
			}
			p := make([]byte, 16)
			err = tc.read(r, p)
			if !fired.Load() {
				t.Fatal("the read did not open chunk 1")
			}
			if err != nil && !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("read: %v", err)
			}
			before, after := bytes.Repeat([]byte{'A'}, 16), make([]byte, 16)
			if err == nil && !bytes.Equal(p, before) && !bytes.Equal(p, after) {
				t.Errorf("read %q: bytes from before the writer's cut beside the zeros of its growth after it", p)
			}
		})
	}
}
