//go:build unix

package chunkmap_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestOpen_ManifestNotRegularSameError: where the manifest's name holds
// something other than a regular file, a read-write Open, which opens the
// manifest for writing at once, reports it as a ReadOnly Open does (and
// as a read-write Open did when it opened the manifest for reading
// first): ErrCorrupt, naming the manifest, with the same message. The
// system's refusal to open a directory for writing (EISDIR) is not part
// of it.
func TestOpen_ManifestNotRegularSameError(t *testing.T) {
	kinds := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"FIFO", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink", func(t *testing.T, path string) {
			if err := os.Symlink(path+".elsewhere", path); err != nil {
				t.Fatal(err)
			}
		}},
		{"socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Skipf("no unix socket at %s: %v", path, err)
			}
			t.Cleanup(func() { l.Close() })
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, chunkmap.ManifestName)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			k.make(t, path)
			var msgs [2]string
			for i, ro := range []bool{true, false} {
				m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: ro})
				if err == nil {
					m.Close()
					t.Fatalf("Open(ReadOnly %v) with the manifest a %s succeeded", ro, k.name)
				}
				if !errors.Is(err, chunkmap.ErrCorrupt) {
					t.Fatalf("Open(ReadOnly %v) with the manifest a %s = %v, want ErrCorrupt", ro, k.name, err)
				}
				msgs[i] = err.Error()
			}
			if msgs[0] != msgs[1] {
				t.Errorf("with the manifest a %s, read-write Open = %q, want %q as for ReadOnly", k.name, msgs[1], msgs[0])
			}
		})
	}
}
