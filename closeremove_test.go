package chunkmap_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestManager_CloseThenRemove checks that Close lets go of every file of
// the dataset while the closed Managers are still referenced: Remove, and
// then os.RemoveAll, succeed at once. On Windows, where a mapped file
// cannot be deleted, Close used to keep the manifest's state page mapped
// until the closed Manager was garbage collected, and Remove failed with
// "MANIFEST: Sharing violation" (so did every t.TempDir cleanup).
func TestManager_CloseThenRemove(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	tests := []struct {
		name string
		// run opens Managers on dir, uses them and closes them; it
		// returns them, to be kept reachable past Remove.
		run func(t *testing.T, dir string) []*chunkmap.Manager
	}{
		{"writer", func(t *testing.T, dir string) []*chunkmap.Manager {
			w := crOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
			crAppend(t, w, 2*cs+5)
			crClose(t, w)
			return []*chunkmap.Manager{w}
		}},
		{"writer and follower", func(t *testing.T, dir string) []*chunkmap.Manager {
			w := crOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
			crAppend(t, w, 2*cs+5)
			r := crOpen(t, dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true})
			crRead(t, r, 2*cs+5)
			if _, err := r.LoadUint64(cs); err != nil {
				t.Fatalf("LoadUint64: %v", err)
			}
			crClose(t, r)
			crClose(t, w)
			return []*chunkmap.Manager{w, r}
		}},
		{"writer closed before its follower", func(t *testing.T, dir string) []*chunkmap.Manager {
			w := crOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
			crAppend(t, w, cs)
			r := crOpen(t, dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true})
			crRead(t, r, cs)
			crClose(t, w)
			crRead(t, r, cs)
			crClose(t, r)
			return []*chunkmap.Manager{w, r}
		}},
		{"reader of a closed dataset", func(t *testing.T, dir string) []*chunkmap.Manager {
			w := crOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
			crAppend(t, w, 3*cs)
			crClose(t, w)
			r := crOpen(t, dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true})
			crRead(t, r, 3*cs)
			crClose(t, r)
			return []*chunkmap.Manager{w, r}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			ms := tc.run(t, dir)
			if err := chunkmap.Remove(dir); err != nil {
				t.Fatalf("Remove after Close: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(dir, chunkmap.ManifestName)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("after Remove, Lstat(MANIFEST) = %v, want fs.ErrNotExist", err)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatalf("os.RemoveAll after Remove: %v", err)
			}
			// A closed Manager's calls still fail as closed, the page gone.
			for _, m := range ms {
				if _, err := m.ReadAt(make([]byte, 8), 0); !errors.Is(err, chunkmap.ErrClosed) {
					t.Errorf("ReadAt after Close = %v, want ErrClosed", err)
				}
				if _, err := m.LoadUint64(0); !errors.Is(err, chunkmap.ErrClosed) {
					t.Errorf("LoadUint64 after Close = %v, want ErrClosed", err)
				}
			}
			// Reachable until here: the files must go at Close, not when
			// a garbage collection finds the Managers unreachable.
			runtime.KeepAlive(ms)
		})
	}
}

func crOpen(t *testing.T, dir string, o *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m
}

func crAppend(t *testing.T, m *chunkmap.Manager, n int) {
	t.Helper()
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	if _, err := m.Append(p); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func crRead(t *testing.T, m *chunkmap.Manager, n int) {
	t.Helper()
	p := make([]byte, n)
	if _, err := m.ReadAt(p, 0); err != nil {
		t.Fatalf("ReadAt(%d bytes, 0): %v", n, err)
	}
	for i := range p {
		if p[i] != byte(i) {
			t.Fatalf("ReadAt: byte %d = %d, want %d", i, p[i], byte(i))
		}
	}
}

func crClose(t *testing.T, m *chunkmap.Manager) {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
