package chunkmap_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// oneOpenFS refuses, while armed, the open of a chunk file with EMFILE
// while another chunk file it opened is still open, and holds each such
// file's fsync a moment: a process with one descriptor free, whose Sync
// opens its chunk files side by side.
type oneOpenFS struct {
	vfs.FS
	mu    sync.Mutex
	armed bool
	open  int
}

func (o *oneOpenFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.armed || !strings.HasSuffix(name, ".chunk") {
		return o.FS.OpenFile(name, flag, perm)
	}
	if o.open > 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: chunkmap.FilesErrno}
	}
	f, err := o.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	o.open++
	return &oneOpenFile{File: f, fs: o}, nil
}

type oneOpenFile struct {
	vfs.File
	fs *oneOpenFS
}

func (f *oneOpenFile) Sync() error {
	time.Sleep(20 * time.Millisecond) // the other opens come meanwhile
	return f.File.Sync()
}

func (f *oneOpenFile) Close() error {
	f.fs.mu.Lock()
	f.fs.open--
	f.fs.mu.Unlock()
	return f.File.Close()
}

// TestSync_RefusedSideBySideKeepsMapped: a Sync whose side-by-side opens
// of chunk files were refused only by one another (one descriptor free,
// enough for one open at a time) succeeds one at a time, and leaves the
// mapped chunks and MaxMapped alone: unmapping them frees nothing the
// Sync lacks, and a MaxMapped lowered for it would stay lowered until the
// dataset is reopened.
func TestSync_RefusedSideBySideKeepsMapped(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	const maxMapped = 4
	ofs := &oneOpenFS{FS: vfs.OS}
	opts := chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true}
	chunkmap.SetFS(&opts, ofs)
	m, err := chunkmap.Open(filepath.Join(t.TempDir(), "ds"), &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Six dirty chunks evicted with no cached file, for Sync to open by
	// name, and four mapped.
	for i := range int64(maxMapped + 6) {
		if _, err := m.WriteAt([]byte{byte(i + 1)}, i*cs+10); err != nil {
			t.Fatal(err)
		}
	}
	chunkmap.DropFileCache(m)
	if got := m.Stats().Mapped; got != maxMapped {
		t.Fatalf("%d chunks mapped before Sync, want %d", got, maxMapped)
	}
	ofs.mu.Lock()
	ofs.armed = true
	ofs.mu.Unlock()
	serr := m.Sync()
	ofs.mu.Lock()
	ofs.armed = false
	ofs.mu.Unlock()
	if serr != nil {
		t.Fatalf("Sync with one descriptor free: %v", serr)
	}
	if got := m.Stats().Mapped; got != maxMapped {
		t.Errorf("%d chunks mapped after Sync, want %d: the Sync unmapped chunks (and lowered MaxMapped) for refusals of its own making", got, maxMapped)
	}
}
