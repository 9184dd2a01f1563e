//go:build unix

package chunkmap

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// bindFailFS is the OS whose Bind fails (an error of no lock's), and that
// runs onUnmake once, at the first look at dir after that failure: where
// Open, which made dir, looks before it removes it again (unmake).
type bindFailFS struct {
	vfs.FS
	dir      string
	failed   bool
	onUnmake func()
}

func (f *bindFailFS) Bind(dir string, locked *os.File) (vfs.FS, func() error, error) {
	f.failed = true
	return nil, nil, &fs.PathError{Op: "open", Path: dir, Err: syscall.EIO}
}

func (f *bindFailFS) Lstat(name string) (fs.FileInfo, error) {
	if f.failed && filepath.Clean(name) == f.dir && f.onUnmake != nil {
		h := f.onUnmake
		f.onUnmake = nil
		h()
	}
	return f.FS.Lstat(name)
}

// TestOpen_UnmakeSparesAnotherWritersDirectory: an Open that made the
// dataset's directory and then failed removes it again, but never once
// another writer has it locked: that writer is making its dataset there,
// and the directory is empty until its manifest is in. Where Bind failed,
// Open let go of the lock and then removed the directory, which the other
// writer had locked in between: its Open then failed to create the
// manifest in a directory no path led to (ENOENT).
func TestOpen_UnmakeSparesAnotherWritersDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	var other *dirLock
	var otherErr error
	fsys := &bindFailFS{FS: vfs.OS, dir: dir}
	fsys.onUnmake = func() {
		// Another process's Open, which found dir there: it locks it
		// and is about to make its manifest.
		other, otherErr = lockDir(dir, true)
	}
	o := &Options{ChunkSize: MinChunkSize}
	o.fs = fsys
	m, err := Open(dir, o)
	if err == nil {
		m.Close()
		t.Fatal("Open with a failing Bind: no error")
	}
	if !errors.Is(err, ErrIO) || !errors.Is(err, syscall.EIO) {
		t.Errorf("Open with a failing Bind: %v, want ErrIO and EIO", err)
	}
	fi, lerr := os.Lstat(dir)
	switch {
	case other != nil:
		defer other.unlock()
		mine, serr := other.dir().Stat()
		if serr != nil {
			t.Fatal(serr)
		}
		if lerr != nil || !os.SameFile(mine, fi) {
			t.Errorf("the failed Open removed %s, which another writer had locked to make its dataset in (Lstat: %v)", dir, lerr)
		}
	case errors.Is(otherErr, ErrLocked):
		// Open still held the lock: the directory was its own to remove.
		if lerr == nil {
			t.Errorf("the failed Open left the directory %s it made", dir)
		}
	default:
		t.Fatalf("the other writer's lock: %v", otherErr)
	}
}

// parentGoesFS is the OS whose first MkdirAll meets a parent removed
// between its look and its mkdir: it removes parent, as another Open that
// had made it for a dataset beside this one and failed does (unmake), and
// fails as os.MkdirAll then does.
type parentGoesFS struct {
	vfs.FS
	parent string
	done   bool
}

func (f *parentGoesFS) MkdirAll(dir string, perm os.FileMode) error {
	if !f.done {
		f.done = true
		if err := os.Remove(f.parent); err != nil {
			return err
		}
		return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOENT}
	}
	return f.FS.MkdirAll(dir, perm)
}

// TestOpen_ParentRemovedByAnotherOpen: two Opens make datasets side by
// side under a parent that neither found; one fails, and removes the
// parent it made while the other's MkdirAll is between its look at the
// parent and its mkdir. The other Open failed with ENOENT; it makes the
// parent again, as after a concurrent Remove.
func TestOpen_ParentRemovedByAnotherOpen(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "new")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "b")
	o := &Options{ChunkSize: MinChunkSize}
	o.fs = &parentGoesFS{FS: vfs.OS, parent: parent}
	m, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s) with its parent removed meanwhile: %v", dir, err)
	}
	if _, err := m.WriteAt([]byte("x"), 0); err != nil {
		t.Error(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		t.Errorf("no manifest after Close: %v", err)
	}
}
