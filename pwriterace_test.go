package chunkmap

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// checkWriteHookFS is the real file system whose files run hook before a
// WriteAt on a file whose name ends in name.
type checkWriteHookFS struct {
	vfs.FS
	name string
	hook func()
}

type checkWriteHookFile struct {
	vfs.File
	fs *checkWriteHookFS
}

func (h *checkWriteHookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := h.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &checkWriteHookFile{File: f, fs: h}, nil
}

func (f *checkWriteHookFile) WriteAt(p []byte, off int64) (int, error) {
	if h := f.fs; h.hook != nil && strings.HasSuffix(f.Name(), string(filepath.Separator)+h.name) {
		h.hook()
	}
	return f.File.WriteAt(p, off)
}

// TestSync_PwriteBesideOwnTruncateIsNoFault starts a Truncate that deletes
// chunk 1, an extending write that makes it anew and a Sync while a
// Scatter's pwrite is under way on chunk 1's file. Like a WriteAt, the
// Scatter happens whole before the Truncate (which waits for it), so its
// bytes are deleted with the chunk, the extending write's bytes stand, and
// no Sync may report the new file as replaced by another program.
func TestSync_PwriteBesideOwnTruncateIsNoFault(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	h := &checkWriteHookFS{FS: vfs.OS, name: chunk.Name(1)}
	o := &Options{ChunkSize: cs}
	SetFS(o, h)
	m, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, 2*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	var fired atomic.Bool
	done := make(chan struct{})
	h.hook = func() {
		if fired.Swap(true) {
			return
		}
		// Other goroutines of the program, while the pwrite is under way.
		go func() {
			defer close(done)
			if err := m.Truncate(cs); err != nil {
				t.Error(err)
			}
			if _, err := m.WriteAt(bytes.Repeat([]byte{2}, cs), cs); err != nil {
				t.Error(err)
			}
			if err := m.Sync(); err != nil {
				t.Error(err)
			}
		}()
	}
	// A Scatter of one chunk-sized value at an unmapped chunk takes pwrite.
	if err := m.Scatter(bytes.Repeat([]byte{1}, cs), []int64{cs}, cs); err != nil {
		t.Fatal(err)
	}
	if !fired.Load() {
		t.Fatal("the hook did not run: the write did not take pwrite")
	}
	<-done
	for i := range 2 {
		if err := m.Sync(); err != nil {
			t.Errorf("Sync #%d after a pwrite beside the program's own Truncate and regrowth: %v", i+1, err)
		}
	}
	got := make([]byte, cs)
	if _, err := m.ReadAt(got, cs); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{2}, cs)) {
		t.Fatalf("chunk 1 after the Scatter, the Truncate and the extending write: %v, want the extending write's bytes", err)
	}
}
