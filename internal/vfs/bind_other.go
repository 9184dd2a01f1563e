//go:build !unix

package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// dirHandle is nothing: files are opened through the Root.
type dirHandle struct{}

func openDirHandle(string, fs.FileInfo) (dirHandle, error) { return dirHandle{}, nil }

func (dirHandle) close() error { return nil }

// openIn opens rel, a name in the bound directory, which path names, as
// OS.OpenFile opens path.
func (b *boundFS) openIn(rel, path string, flag int, perm os.FileMode) (File, error) {
	open := func() (*os.File, error) {
		f, err := b.root.OpenFile(rel, flag|openFlags, perm)
		return f, renamed(err, "open", path)
	}
	lstat := func() (fs.FileInfo, error) { return b.root.Lstat(rel) }
	f, err := openRegular(path, flag, open, lstat)
	if err != nil || flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		return f, err
	}
	// A Root follows a symlink that stays inside it, where an open by
	// path refuses every symlink: the name must still be the regular
	// file that was opened. (If it was swapped for another file or a
	// symlink meanwhile, the open is refused: the safe side.)
	fi, err := b.root.Lstat(rel)
	if err == nil && (!fi.Mode().IsRegular() || !sameAsOpen(f, fi)) {
		err = &fs.PathError{Op: "open", Path: path,
			Err: fmt.Errorf("%w (it is %s)", ErrNotRegular, Kind(fi.Mode()))}
	}
	if err != nil {
		return nil, errors.Join(renamed(err, "lstat", path), f.Close())
	}
	return f, nil
}

// sameAsOpen reports whether fi describes the file f has open.
func sameAsOpen(f File, fi fs.FileInfo) bool {
	open, err := f.Stat()
	return err == nil && os.SameFile(open, fi)
}
