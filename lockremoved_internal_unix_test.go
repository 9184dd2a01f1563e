//go:build unix

package chunkmap

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// removeAfterLstat is vfs.OS, except that its first Lstat of dir is
// followed at once by the removal of dir and all in it: what a concurrent
// Remove of the dataset does between a ReadOnly Open's look at the
// directory and its open of it.
type removeAfterLstat struct {
	vfs.FS
	dir   string
	done  bool
	calls int
}

func (f *removeAfterLstat) Lstat(name string) (os.FileInfo, error) {
	fi, err := f.FS.Lstat(name)
	f.calls++
	if err == nil && !f.done && filepath.Clean(name) == f.dir {
		f.done = true
		if rerr := os.RemoveAll(f.dir); rerr != nil {
			return nil, rerr
		}
	}
	return fi, err
}

// TestOpen_ReadOnlyDirRemovedWhileOpening: a ReadOnly Open whose dataset
// a concurrent Remove deletes after Open looked at the directory finds no
// dataset, and says so as the README promises (ErrReadOnly and
// fs.ErrNotExist), as when the directory was missing from the start. It
// returned ErrIO, naming the open of the directory, before.
func TestOpen_ReadOnlyDirRemovedWhileOpening(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Each row removes the dataset; it is put back from these bytes.
	manifest, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		bound bool // the FS binds the directory (holds a handle), as vfs.OS does on Unix
	}{{"bound", true}, {"by-name", false}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ManifestName), manifest, 0o644); err != nil {
				t.Fatal(err)
			}
			rm := &removeAfterLstat{FS: vfs.OS, dir: dir}
			var fsys vfs.FS = rm
			if tc.bound {
				fsys = bindingRemover{rm}
			}
			o := &Options{ReadOnly: true}
			SetFS(o, fsys)
			r, err := Open(dir, o)
			if err == nil {
				r.Close()
				t.Fatal("ReadOnly Open of a dataset removed while it was being opened succeeded")
			}
			if !rm.done {
				t.Fatalf("the directory was never looked at through the FS (%d Lstat calls)", rm.calls)
			}
			if !errors.Is(err, ErrReadOnly) || !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrIO) {
				t.Fatalf("ReadOnly Open of a dataset removed while opening = %v, want ErrReadOnly and fs.ErrNotExist, not ErrIO", err)
			}
		})
	}
}

// bindingRemover is a removeAfterLstat that binds the directory as
// vfs.OS does.
type bindingRemover struct{ *removeAfterLstat }

func (b bindingRemover) Bind(dir string, locked *os.File) (vfs.FS, func() error, error) {
	return vfs.OS.(vfs.Binder).Bind(dir, locked)
}
