package vfs

// This file binds an FS to one directory. An FS names files by path, and a
// path is looked up again at every call: if another program renames a
// dataset's directory, or removes it, and makes another directory under its
// name (another dataset, say), every later call would go to the other one.
// The bound FS looks names in the directory up through handles of it opened
// once, so they keep naming entries of the directory it opened, wherever
// that directory is moved, and fail once it is removed (bind_unix.go).
// Elsewhere an FS is used by path: on Windows a directory cannot be renamed
// or removed while a file in it is open without delete sharing, which the
// lock file of a dataset open for writing is.

import (
	"errors"
	"os"
)

// ErrMoved is returned by [Bind] when the directory it opened by path is
// not the one it was to bind: the path was given to another directory in
// between.
var ErrMoved = errors.New("directory moved or replaced")

// Binder is an FS that [Bind] can bind; [OS] is one on Unix. An FS that is
// not (a test's wrapper, say) is used by path as it is.
type Binder interface {
	FS
	// Bind returns the FS bound to dir, and the function that closes
	// its handles of dir; see [Bind].
	Bind(dir string, locked *os.File) (FS, func() error, error)
}

// Bind returns fsys bound to directory dir, if fsys is a [Binder]: the
// files named filepath.Join(dir, name), and dir itself, are then those of
// the directory that dir named at the time of Bind, or that locked (an
// open descriptor of a directory, the one a lock is taken on) has open if
// it is not nil; a directory at dir that is not that one is an error
// wrapping [ErrMoved]. Other paths are fsys's. The function returned
// closes the handles of dir; the bound FS fails after it. An fsys that is
// not a Binder is returned as it is, with a function that does nothing.
func Bind(fsys FS, dir string, locked *os.File) (FS, func() error, error) {
	if b, ok := fsys.(Binder); ok {
		return b.Bind(dir, locked)
	}
	return fsys, func() error { return nil }, nil
}
