//go:build unix

package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestOpen_IrregularPastSizeLeftAloneGrowthRefused checks what Open's doc
// says of a FIFO, directory or symlink under the name of a chunk outside
// [Start, Size): Open leaves it, reads work, and a growth that needs the
// name fails with ErrCorrupt naming it, leaving Size and the entry as they
// were.
func TestOpen_IrregularPastSizeLeftAloneGrowthRefused(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"dir", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"symlink", func(p string) error { return os.Symlink("elsewhere", p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt([]byte("data"), 2*cs-4); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(dir, "0000000000000002.chunk")
			if err := tc.make(bad); err != nil {
				t.Fatal(err)
			}
			m, err = chunkmap.Open(dir, nil)
			if err != nil {
				t.Fatalf("Open with a %s past Size: %v, want it left alone", tc.name, err)
			}
			defer m.Close()
			got := make([]byte, 4)
			if _, err := m.ReadAt(got, 2*cs-4); err != nil || string(got) != "data" {
				t.Fatalf("ReadAt = %q, %v; want \"data\"", got, err)
			}
			for _, grow := range []func() error{
				func() error { _, err := m.Append(make([]byte, 10)); return err },
				func() error { return m.Truncate(3 * cs) },
				func() error { _, err := m.WriteAt([]byte("x"), 2*cs+5); return err },
			} {
				err := grow()
				if !errors.Is(err, chunkmap.ErrCorrupt) || strings.Count(err.Error(), "0000000000000002.chunk") != 1 {
					t.Errorf("growth over the %s: %v, want ErrCorrupt naming the chunk once", tc.name, err)
				}
			}
			if m.Size() != 2*cs {
				t.Errorf("Size after refused growth = %d, want %d", m.Size(), 2*cs)
			}
			if fi, err := os.Lstat(bad); err != nil || fi.Mode().IsRegular() {
				t.Errorf("the %s under the chunk name: %v, %v; want it left as it was", tc.name, fi, err)
			}
		})
	}
}
