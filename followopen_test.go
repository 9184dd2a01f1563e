package chunkmap_test

import (
	"bytes"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// lstatHookFS runs hook once, at the first Lstat of a chunk file: inside a
// reader's Open, after it has read Start and Size and before it returns.
type lstatHookFS struct {
	vfs.FS
	once sync.Once
	hook func()
}

func (h *lstatHookFS) Lstat(name string) (fs.FileInfo, error) {
	if strings.HasSuffix(name, ".chunk") {
		h.once.Do(h.hook)
	}
	return h.FS.Lstat(name)
}

// TestFollow_ShrinkDuringOpen checks a reader whose Open races a writer's
// Truncate: the reader read Size before the Truncate and the page's epoch
// after it. Its first call must still take the writer's new Size, never
// keep the old one (and hand out bytes past the new Size) until the writer
// next shrinks.
func TestFollow_ShrinkDuringOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Append(bytes.Repeat([]byte{0xaa}, 3000)); err != nil {
		t.Fatal(err)
	}
	h := &lstatHookFS{FS: vfs.OS, hook: func() {
		if err := w.Truncate(100); err != nil {
			t.Error(err)
		}
	}}
	opts := chunkmap.Options{ReadOnly: true}
	chunkmap.SetFS(&opts, h)
	r, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Size(); got != 100 {
		t.Errorf("reader's Size after the writer's Truncate(100) during its Open = %d, want 100", got)
	}
	p := make([]byte, 10)
	if n, err := r.ReadAt(p, 1000); err != io.EOF {
		t.Errorf("reader's ReadAt at 1000, past the writer's Size 100: n %d, %v (bytes %x), want io.EOF", n, err, p[:n])
	}
}
