//go:build unix

package chunkmap

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// removeAfterMkdir is vfs.OS, except that its first MkdirAll of dir is
// followed at once by the directory's removal: what a concurrent Remove
// of the dataset does between a writer Open's MkdirAll and its lock. It
// records the MkdirAll and SyncDir calls, in order.
type removeAfterMkdir struct {
	vfs.FS
	dir    string
	mkdirs int
	calls  []string
}

func (f *removeAfterMkdir) MkdirAll(dir string, perm os.FileMode) error {
	err := f.FS.MkdirAll(dir, perm)
	f.calls = append(f.calls, "mkdir "+dir)
	if f.mkdirs++; err == nil && f.mkdirs == 1 && dir == f.dir {
		err = os.Remove(dir)
	}
	return err
}

func (f *removeAfterMkdir) SyncDir(dir string) error {
	f.calls = append(f.calls, "syncdir "+dir)
	return f.FS.SyncDir(dir)
}

// TestOpen_DirRemovedBeforeLock: a read-write Open whose directory a
// concurrent Remove deletes after Open made (or found) it and before Open
// opened it to lock it must make it again, name it durably in its parent
// again, and open a dataset there, as the comment above its loop says
// and as it does when the directory goes after that open (errDirMoved).
// It failed with ErrIO and "lock: no such file or directory" instead,
// which no caller of an Open that creates a missing dataset expects: a
// writer Open beside a loop of Remove calls met it within seconds.
func TestOpen_DirRemovedBeforeLock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parent string // dir's parent, below the test's directory
	}{
		{name: "parent-exists"},
		{name: "parent-made", parent: "a/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tc.parent, "ds")
			fsys := &removeAfterMkdir{FS: vfs.OS, dir: dir}
			o := &Options{ChunkSize: MinChunkSize}
			SetFS(o, fsys)
			m, err := Open(dir, o)
			if err != nil {
				t.Fatalf("Open with its directory removed before the lock = %v, want it made again and opened", err)
			}
			defer m.Close()
			if fsys.mkdirs < 2 {
				t.Fatalf("MkdirAll ran %d times (calls %q), want the directory made again", fsys.mkdirs, fsys.calls)
			}
			last := len(fsys.calls) - 1
			for fsys.calls[last] != "mkdir "+dir {
				last--
			}
			if !slices.Contains(fsys.calls[last:], "syncdir "+filepath.Dir(dir)) {
				t.Errorf("calls %q: the directory made again is not synced in its parent", fsys.calls)
			}
			if _, err := m.Append([]byte("new")); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := Open(dir, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := make([]byte, 3)
			if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, []byte("new")) {
				t.Errorf("ReadAt after reopen = %q, %v; want %q", got, err, "new")
			}
		})
	}
}

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
