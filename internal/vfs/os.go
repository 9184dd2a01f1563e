package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
)

// ErrNotRegular is wrapped by the error [FS.OpenFile] returns for a name
// that is not a regular file (a FIFO, a device, a directory, a symlink).
var ErrNotRegular = errors.New("not a regular file")

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	open := func() (*os.File, error) { return os.OpenFile(name, flag|openFlags, perm) }
	lstat := func() (fs.FileInfo, error) { return os.Lstat(name) }
	return openRegular(name, flag, open, lstat)
}

// unsaid is an error that stays in a chain, for errors.Is and errors.As,
// and adds nothing to its message: the system's errno for an open that
// O_NOFOLLOW or O_NONBLOCK refused ("too many levels of symbolic links"
// for a symlink, "no such device or address" for a FIFO) says less than
// the kind of file, and misleads.
type unsaid struct{ err error }

func (unsaid) Error() string   { return "" }
func (u unsaid) Unwrap() error { return u.err }

// openRegular opens name with open, which adds openFlags to flag, and
// refuses it unless it is a regular file; lstat describes name, to tell
// why an open failed.
func openRegular(name string, flag int, open func() (*os.File, error), lstat func() (fs.FileInfo, error)) (File, error) {
	f, err := open()
	if err != nil {
		// O_NOFOLLOW fails on a symlink with an errno that differs between
		// systems (ELOOP on Linux), and other types fail with their own
		// (EISDIR, ENXIO for a FIFO without a reader): tell them by lstat.
		if fi, lerr := lstat(); lerr == nil && !fi.Mode().IsRegular() {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &fs.PathError{Op: "open", Path: name,
				Err: fmt.Errorf("%w (it is %s)%w", ErrNotRegular, Kind(fi.Mode()), unsaid{err})}
		}
		return nil, err
	}
	if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		// Made by this call, so a regular file: no need to look.
		return OSFile{f}, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.Join(&fs.PathError{Op: "open", Path: name,
			Err: fmt.Errorf("%w (it is %s)", ErrNotRegular, Kind(fi.Mode()))}, f.Close())
	}
	if err := clearNonblock(f); err != nil {
		return nil, errors.Join(&fs.PathError{Op: "open", Path: name, Err: err}, f.Close())
	}
	return OSFile{f}, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) ReadDir(dir string) ([]fs.DirEntry, error)   { return os.ReadDir(dir) }
func (osFS) Lstat(name string) (fs.FileInfo, error)      { return lstat(name) }
func (osFS) SyncDir(dir string) error                    { return syncDir(dir) }

// bootID is the boot identity once read. A failed read is not kept: a
// process that ran out of descriptors for a moment would otherwise take
// every state page of its boot for one of an earlier boot, for good.
var bootID atomic.Pointer[string]

func (osFS) BootID() (string, error) {
	if id := bootID.Load(); id != nil {
		return *id, nil
	}
	id, err := readBootID()
	if err != nil {
		return "", err
	}
	// The first value kept is every caller's: two first reads of the
	// clocks may differ by a second (see bootClocks).
	bootID.CompareAndSwap(nil, &id)
	return *bootID.Load(), nil
}

// OSFile is the File type of [OS]: callers that need to keep a buffer from
// escaping through the File interface may use its *os.File directly.
type OSFile struct{ File *os.File }

func (o OSFile) ReadAt(p []byte, off int64) (int, error)  { return o.File.ReadAt(p, off) }
func (o OSFile) WriteAt(p []byte, off int64) (int, error) { return o.File.WriteAt(p, off) }
func (o OSFile) Close() error                             { return o.File.Close() }
func (o OSFile) Stat() (fs.FileInfo, error)               { return o.File.Stat() }
func (o OSFile) Sync() error                              { return o.File.Sync() }
func (o OSFile) Truncate(size int64) error                { return o.File.Truncate(size) }
func (o OSFile) OS() *os.File                             { return o.File }
func (o OSFile) Name() string                             { return o.File.Name() }

func (o OSFile) Allocate(off, n int64) error {
	if err := allocate(o.File, off, n); err != nil {
		return &fs.PathError{Op: "allocate", Path: o.File.Name(), Err: err}
	}
	return nil
}

// Wrap returns f as a File of [OS], for files opened outside the seam
// (unnamed scratch files).
func Wrap(f *os.File) File { return OSFile{f} }

// Kind names the type of a file that mode describes, for messages that
// refuse one that is not a regular file: "a directory", "a FIFO", "a
// symlink", "a socket", "a device"; "a regular file" for one.
func Kind(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symlink"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	default:
		return "of type " + t.String()
	}
}
