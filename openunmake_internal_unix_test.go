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
