package vfs

// This file binds an FS to one directory. An FS names files by path, and a
// path is looked up again at every call: if another program renames a
// dataset's directory, or removes it, and makes another directory under its
// name (another dataset, say), every later call would go to the other one.
// The bound FS looks names in the directory up through a handle of it
// ([os.Root]) opened once, so they keep naming entries of the directory it
// opened, wherever that directory is moved, and fail once it is removed.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrMoved is returned by [Bind] when the directory it opened is not the
// one it was told to expect: the path was given to another directory in
// between.
var ErrMoved = errors.New("directory moved or replaced")

// Binder is an FS that [Bind] can bind; [OS] is one. An FS that is not
// (a test's wrapper, say) is used by path as it is.
type Binder interface {
	FS
	// Bind returns the FS bound to dir, and the function that closes
	// its handle of dir; see [Bind].
	Bind(dir string, want fs.FileInfo) (FS, func() error, error)
}

// Bind returns fsys bound to directory dir, if fsys is a [Binder]: the
// files named filepath.Join(dir, name) and dir itself are then those of
// the directory that dir named at the time of Bind; other paths are
// fsys's. If want is not nil, it describes the directory that must be the
// one opened (the one a lock was taken on), and another one is an error
// wrapping [ErrMoved]. The function returned closes the handle of dir; the
// bound FS fails after it. An fsys that is not a Binder is returned as it
// is, with a function that does nothing.
func Bind(fsys FS, dir string, want fs.FileInfo) (FS, func() error, error) {
	if b, ok := fsys.(Binder); ok {
		return b.Bind(dir, want)
	}
	return fsys, func() error { return nil }, nil
}

func (osFS) Bind(dir string, want fs.FileInfo) (FS, func() error, error) {
	dir = filepath.Clean(dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	got, err := root.Stat(".")
	if err == nil && want != nil && !os.SameFile(got, want) {
		err = &fs.PathError{Op: "open", Path: dir, Err: ErrMoved}
	}
	var h dirHandle
	if err == nil {
		h, err = openDirHandle(dir, got)
	}
	if err != nil {
		return nil, nil, errors.Join(err, root.Close())
	}
	b := &boundFS{dir: dir, root: root, h: h}
	return b, func() error { return errors.Join(h.close(), root.Close()) }, nil
}

// boundFS is [OS] bound to one directory (see [Bind]).
type boundFS struct {
	dir  string // cleaned
	root *os.Root
	h    dirHandle // what opens files in it, where a Root is not enough (bind_unix.go)
}

// in returns the name of path in the bound directory ("." for the
// directory itself), and false if path is not in it.
func (b *boundFS) in(path string) (string, bool) {
	switch {
	case path == b.dir:
		return ".", true
	case strings.HasPrefix(path, b.dir) && filepath.Dir(path) == b.dir:
		return filepath.Base(path), true
	}
	return "", false
}

func (b *boundFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	rel, ok := b.in(name)
	if !ok || rel == "." {
		return OS.OpenFile(name, flag, perm)
	}
	return b.openIn(rel, name, flag, perm)
}

func (b *boundFS) Remove(name string) error {
	if rel, ok := b.in(name); ok && rel != "." {
		return renamed(b.root.Remove(rel), "remove", name)
	}
	return OS.Remove(name)
}

func (b *boundFS) Rename(oldname, newname string) error {
	o, ok1 := b.in(oldname)
	n, ok2 := b.in(newname)
	if !ok1 || !ok2 || o == "." || n == "." {
		return OS.Rename(oldname, newname)
	}
	if err := b.root.Rename(o, n); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err
		}
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (b *boundFS) MkdirAll(dir string, perm os.FileMode) error {
	if rel, ok := b.in(dir); ok && rel == "." {
		// The bound directory exists, wherever it is now.
		_, err := b.root.Stat(".")
		return renamed(err, "mkdir", dir)
	}
	return OS.MkdirAll(dir, perm)
}

func (b *boundFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	if rel, ok := b.in(dir); !ok || rel != "." {
		return OS.ReadDir(dir)
	}
	d, err := b.root.Open(".")
	if err != nil {
		return nil, renamed(err, "open", dir)
	}
	entries, err := d.ReadDir(-1)
	err = errors.Join(renamed(err, "readdirent", dir), d.Close())
	// Sorted by name, as os.ReadDir returns them.
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

func (b *boundFS) Lstat(name string) (fs.FileInfo, error) {
	if rel, ok := b.in(name); ok {
		fi, err := b.root.Lstat(rel)
		return fi, renamed(err, "lstat", name)
	}
	return OS.Lstat(name)
}

func (b *boundFS) SyncDir(dir string) error {
	if rel, ok := b.in(dir); ok && rel == "." {
		return syncRoot(b.root, dir)
	}
	return OS.SyncDir(dir)
}

func (b *boundFS) BootID() string { return OS.BootID() }

// renamed returns err, an error of a Root's method, naming path and op as
// the error of the same call by path would: a Root's errors name the
// name in it, and its own operations ("openat").
func renamed(err error, op, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: path, Err: pe.Err}
	}
	return err
}
