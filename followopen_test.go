package chunkmap_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

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
	var once sync.Once // at the first Lstat of a chunk file: inside the reader's Open
	h := &everyLstatFS{FS: vfs.OS, hook: func() {
		once.Do(func() {
			if err := w.Truncate(100); err != nil {
				t.Error(err)
			}
		})
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

// TestReadOnlyOpenBesideDrops checks a ReadOnly Open beside a writer that
// drops the first chunk each time the reader looks at a chunk file, 20
// times: more than a whole Open is tried again (readOnlyOpenTries), so the
// Open must follow the writer's cuts while it checks the files, not call
// the dataset corrupt, and then read what the writer holds.
func TestReadOnlyOpenBesideDrops(t *testing.T) {
	const cs, chunks, drops = chunkmap.MinChunkSize, 40, 20
	dir := t.TempDir()
	w := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	data := make([]byte, chunks*cs)
	for i := range data {
		data[i] = byte(i / cs)
	}
	if _, err := w.Append(data); err != nil {
		t.Fatal(err)
	}
	n := 0
	h := &everyLstatFS{FS: vfs.OS, hook: func() {
		if n < drops {
			n++
			if err := w.DropBefore(w.Start() + cs); err != nil {
				t.Error(err)
			}
		}
	}}
	o := &chunkmap.Options{ReadOnly: true}
	chunkmap.SetFS(o, h)
	r, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatalf("ReadOnly Open beside %d drops: %v", n, err)
	}
	defer r.Close()
	if n != drops {
		t.Fatalf("the writer dropped %d chunks during the Open, want %d: the test needs it to", n, drops)
	}
	if r.Start() != w.Start() || r.Size() != w.Size() {
		t.Errorf("reader's Start, Size = %d, %d; want the writer's %d, %d", r.Start(), r.Size(), w.Start(), w.Size())
	}
	got := make([]byte, w.Size()-w.Start())
	if _, err := r.ReadAt(got, w.Start()); err != nil || !bytes.Equal(got, data[w.Start():]) {
		t.Errorf("reader's ReadAt of [Start, Size): %v, equal %v", err, bytes.Equal(got, data[w.Start():]))
	}
}

// everyLstatFS is vfs.OS with hook run before every Lstat of a chunk file
// (of the file name only, if name is set).
type everyLstatFS struct {
	vfs.FS
	name string
	hook func()
}

func (h *everyLstatFS) Lstat(name string) (fs.FileInfo, error) {
	if strings.HasSuffix(name, ".chunk") && (h.name == "" || name == h.name) {
		h.hook()
	}
	return h.FS.Lstat(name)
}

// TestReadOnlyOpenDamagedBesideCuts checks a ReadOnly Open of a dataset
// whose chunk 2 another program removed, while its writer cuts the tail
// (and grows it back) each time the reader looks at chunk 2's name: the
// cuts never reach chunk 2, so the Open must report the damage
// (ErrCorrupt) after one look per try, not take the page again for every
// cut, looking at every chunk file each time.
func TestReadOnlyOpenDamagedBesideCuts(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	// Its Close reports the removed chunk's unsynced writes as lost.
	defer w.Close()
	const size = 8 * cs
	if _, err := w.Append(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "0000000000000002.chunk")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	looks := 0
	h := &everyLstatFS{FS: vfs.OS, name: missing}
	h.hook = func() {
		looks++
		if err := w.Truncate(size - 10); err != nil {
			t.Error(err)
		}
		if err := w.Truncate(size); err != nil {
			t.Error(err)
		}
	}
	o := &chunkmap.Options{ReadOnly: true}
	chunkmap.SetFS(o, h)
	r, err := chunkmap.Open(dir, o)
	if err == nil {
		r.Close()
	}
	t.Logf("ReadOnly Open after %d looks at the removed chunk: %v", looks, err)
	if !errors.Is(err, chunkmap.ErrCorrupt) {
		t.Errorf("ReadOnly Open with chunk 2 removed = %v; want ErrCorrupt", err)
	}
	if looks > 10 {
		t.Errorf("the Open looked for the removed chunk %d times beside cuts that never reach it; want one a try (10 at most)", looks)
	}
}
