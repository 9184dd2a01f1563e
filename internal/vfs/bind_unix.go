//go:build unix

package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dirHandle is a descriptor of the bound directory, through which files
// in it are opened with openat(2) and O_NOFOLLOW: one system call, as an
// open by path. (A Root's open follows a symlink that stays inside it,
// which would take a look at the name after the open to refuse, and two
// more system calls on every chunk a miss maps.)
type dirHandle struct{ fd int }

// openDirHandle opens dir, which must be the directory that want
// describes (the Root's).
func openDirHandle(dir string, want fs.FileInfo) (dirHandle, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return dirHandle{}, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return dirHandle{}, errors.Join(&fs.PathError{Op: "stat", Path: dir, Err: err}, unix.Close(fd))
	}
	if ws, ok := want.Sys().(*syscall.Stat_t); !ok || uint64(ws.Dev) != uint64(st.Dev) || uint64(ws.Ino) != uint64(st.Ino) {
		return dirHandle{}, errors.Join(&fs.PathError{Op: "open", Path: dir, Err: ErrMoved}, unix.Close(fd))
	}
	return dirHandle{fd}, nil
}

func (h dirHandle) close() error {
	if err := unix.Close(h.fd); err != nil {
		return fmt.Errorf("close directory: %w", err)
	}
	return nil
}

// openIn opens rel, a name in the bound directory, which path names, as
// OS.OpenFile opens path.
func (b *boundFS) openIn(rel, path string, flag int, perm os.FileMode) (File, error) {
	open := func() (*os.File, error) {
		var fd int
		var err error
		for {
			// perm is a permission (a chunk's or the manifest's mode),
			// whose bits are the system's.
			fd, err = unix.Openat(b.h.fd, rel, flag|openFlags|unix.O_CLOEXEC, uint32(perm.Perm()))
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	lstat := func() (fs.FileInfo, error) { return b.root.Lstat(rel) }
	return openRegular(path, flag, open, lstat)
}
