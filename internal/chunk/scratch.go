package chunk

// This file holds scratch chunks: chunk files that have no name, so that
// nothing of them survives their last descriptor, even a crash.

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// CreateScratch makes chunk index as a file of size bytes of zeros that no
// other process can open and that the system deletes when its last
// descriptor is closed, including when the process dies: on Linux an
// O_TMPFILE file, elsewhere on Unix a file unlinked right after it is
// created, on Windows a file opened with FILE_FLAG_DELETE_ON_CLOSE. The
// file is sparse, as Create makes it, and never synced: its contents are not
// meant to outlive it. Use Clone to get a descriptor that can be mapped and
// closed independently. The file is made in dir through fsys's handle of it
// where fsys is bound to it (vfs.Bind), else by path.
func CreateScratch(fsys vfs.FS, dir string, index int64, size int64, perm fs.FileMode) (*File, error) {
	// Named in messages as a chunk with a name, marked as having none.
	path := filepath.Join(dir, Name(index)) + " (scratch)"
	if size <= 0 {
		return nil, &fs.PathError{Op: "create", Path: path, Err: fmt.Errorf("size %d is not positive: %w", size, ErrSize)}
	}
	f, err := createUnnamed(fsys, dir, index, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: path, Err: err}
	}
	if err := f.Truncate(size); err != nil {
		return nil, errors.Join(&fs.PathError{Op: "create", Path: path, Err: err}, f.Close())
	}
	return &File{f: vfs.Wrap(f), path: path, index: index, size: size, mode: ReadWrite, fd: osFd(f)}, nil
}

// ProbeScratch makes an unnamed file in dir as CreateScratch does, and
// closes it at once: it fails where no scratch chunk can be made there (a
// read-only file system, a directory the process may not write in).
func ProbeScratch(fsys vfs.FS, dir string, perm fs.FileMode) error {
	f, err := createUnnamed(fsys, dir, 0, perm)
	if err != nil {
		return err
	}
	return f.Close()
}

// Clone returns a new, unmapped File for the same open file, with its own
// descriptor: closing one does not close the other. It is how a scratch
// chunk, which has no name to open again, is mapped after an eviction.
func (c *File) Clone() (*File, error) {
	if c.f == nil {
		return nil, c.err("clone", fs.ErrClosed)
	}
	f, err := dupFile(c.f.OS())
	if err != nil {
		return nil, c.err("clone", err)
	}
	return &File{f: vfs.Wrap(f), path: c.path, index: c.index, size: c.size, mode: c.mode, info: c.info, fd: osFd(f)}, nil
}
