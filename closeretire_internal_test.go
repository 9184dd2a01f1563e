package chunkmap

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestClose_PinReleasedDuringCloseRetiresNothingEarly releases a pin while
// Close syncs, after Close has marked the Manager closed and before it has
// let go of the manifest's state page: the arena, and with it the state
// page, must not be retired then. The retired state page is unmapped again
// when the Manager is collected; retired before Close let go of it, it was
// a copy of the mapping Close then unmapped on Windows, whose address the
// system may have handed to another mapping by the time of that second
// unmap (under Wine 8, another Manager's state page and chunks: reads that
// differed from their model and "state page cannot be written").
func TestClose_PinReleasedDuringCloseRetiresNothingEarly(t *testing.T) {
	fsys := &syncHookFS{FS: vfs.OS}
	o := &Options{ChunkSize: MinChunkSize}
	o.fs = fsys
	m, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(make([]byte, 3*MinChunkSize)); err != nil {
		t.Fatal(err)
	}
	p, err := m.Pin(MinChunkSize, 8)
	if err != nil {
		t.Fatal(err)
	}
	// A chunk file's fsync runs without the Manager's mu, after Close has
	// marked the Manager closed. Sync fans the fsyncs out to goroutines
	// side by side, so the hook's own state has a lock of its own.
	var (
		hookMu                 sync.Mutex
		released, retiredEarly bool
	)
	fsys.onSync = func(name string) {
		if m.live.Load() || filepath.Ext(name) != ".chunk" {
			return
		}
		hookMu.Lock()
		defer hookMu.Unlock()
		if released {
			return
		}
		released = true
		p.Release()
		m.mu.Lock()
		retiredEarly = m.ar == nil
		m.mu.Unlock()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if !released {
		t.Fatal("Close's sync fsync'd no chunk file after it marked the Manager closed: the pin was not released during Close")
	}
	if retiredEarly {
		t.Error("a pin released while Close synced retired the arena and the state page before Close let go of the page")
	}
}

// syncHookFS is an FS whose files call onSync with their name before each
// Sync.
type syncHookFS struct {
	vfs.FS
	onSync func(name string)
}

func (h *syncHookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := h.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncHookFile{File: f, fs: h}, nil
}

type syncHookFile struct {
	vfs.File
	fs *syncHookFS
}

func (f *syncHookFile) Sync() error {
	if f.fs.onSync != nil {
		f.fs.onSync(f.Name())
	}
	return f.File.Sync()
}
