//go:build linux

package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestPowerCut_SyncFailedSticks makes a writer's data dirty in three ways
// (a pwrite into a chunk, a store through a mapping, an Append into a new
// chunk), shuts the file system down and calls Sync: the README's Errors
// table says an fsync that failed makes every later Sync, write and Close
// of that Manager return ErrSyncFailed again, since the dirty pages may be
// gone. A Sync that could not even open a file to fsync it (xfs fails the
// open) fails with ErrIO instead, which a later Sync retries; every call
// must match one of the two, and Close must let go of the file system.
func TestPowerCut_SyncFailedSticks(t *testing.T) {
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			img, mnt := pcImage(t, fs)
			for _, c := range []struct {
				name  string
				dirty func(m *chunkmap.Manager, p []byte) error
			}{
				{"pwrite", func(m *chunkmap.Manager, p []byte) error { _, err := m.WriteAt(p[:pcChunk], pcChunk); return err }},
				{"store", func(m *chunkmap.Manager, p []byte) error { return m.StoreUint64(8, 5) }},
				{"append", func(m *chunkmap.Manager, p []byte) error { _, err := m.Append(p[:100]); return err }},
			} {
				t.Run(c.name, func(t *testing.T) {
					pcMount(t, img, mnt)
					root, err := os.Open(mnt)
					if err != nil {
						t.Fatal(err)
					}
					m, err := chunkmap.Open(filepath.Join(mnt, c.name), &chunkmap.Options{ChunkSize: pcChunk})
					if err != nil {
						root.Close()
						t.Fatal(err)
					}
					pcCloseAtEnd(t, m, root)
					p := make([]byte, 4*pcChunk)
					if _, err := m.Append(p); err != nil {
						t.Fatal(err)
					}
					if err := m.Sync(); err != nil {
						t.Fatal(err)
					}
					if err := c.dirty(m, p); err != nil {
						t.Fatal(err)
					}
					if err := pcCut(root); err != nil {
						t.Fatal(err)
					}
					err = pcCall(t, "Sync", m.Sync)
					switch {
					case err == nil:
						t.Fatalf("Sync after the cut returned nil")
					case errors.Is(err, chunkmap.ErrIO) && !errors.Is(err, chunkmap.ErrSyncFailed):
						// Nothing was fsynced: nothing sticks.
					case !errors.Is(err, chunkmap.ErrSyncFailed):
						t.Fatalf("Sync after the cut: %v, want ErrSyncFailed or ErrIO", err)
					}
					sticks := errors.Is(err, chunkmap.ErrSyncFailed)
					for _, call := range []struct {
						name string
						fn   func() error
					}{
						{"Sync", m.Sync},
						{"WriteAt", func() error { _, err := m.WriteAt(p[:10], 0); return err }},
						{"StoreUint64", func() error { return m.StoreUint64(16, 1) }},
						{"Append", func() error { _, err := m.Append(p[:10]); return err }},
						{"Truncate", func() error { return m.Truncate(pcChunk) }},
						{"Close", m.Close},
					} {
						err := pcCall(t, call.name, call.fn)
						switch {
						case sticks && !errors.Is(err, chunkmap.ErrSyncFailed):
							t.Errorf("%s after a failed fsync: %v, want ErrSyncFailed", call.name, err)
						case err == nil && call.name != "Close":
							t.Errorf("%s after the cut returned nil", call.name)
						case err != nil && !matchesSentinel(err):
							t.Errorf("%s after the cut: error matches no sentinel: %v", call.name, err)
						}
					}
					if err := m.Close(); !errors.Is(err, chunkmap.ErrClosed) {
						t.Errorf("second Close: %v, want ErrClosed", err)
					}
					root.Close()
					pcUnmount(t, mnt, "after Close")
				})
			}
		})
	}
}
