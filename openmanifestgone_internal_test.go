package chunkmap

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// beforeListFS runs before (once) ahead of the first listing of a
// directory.
type beforeListFS struct {
	vfs.FS
	before func()
}

func (f *beforeListFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	if b := f.before; b != nil {
		f.before = nil
		b()
	}
	return f.FS.ReadDir(dir)
}

// TestOpen_ManifestGoneBeforeListing: a read-write Open that finds no
// manifest in its listing makes a new dataset, and keeps the manifest it
// wrote, not the one it opened before the listing (which another program
// removed in between): its Sync records in the dataset's manifest, and the
// next Open reads what it wrote.
func TestOpen_ManifestGoneBeforeListing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows does not remove a file the Open has open without delete sharing")
	}
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, ManifestName)
	o := &Options{ChunkSize: MinChunkSize}
	SetFS(o, &beforeListFS{FS: vfs.OS, before: func() {
		if err := os.Remove(mpath); err != nil {
			t.Error(err)
		}
	}})
	m, err = Open(dir, o)
	if err != nil {
		t.Fatalf("Open with the manifest removed before the listing: %v", err)
	}
	data := bytes.Repeat([]byte{7}, 3*MinChunkSize/2)
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync of the dataset Open made anew: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(data)) {
		t.Errorf("Size after reopening = %d, want %d", r.Size(), len(data))
	}
}
