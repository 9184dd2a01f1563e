package vfs

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpenTmpfile opens a new file without a name in directory dir (open(2)
// with O_TMPFILE: Linux 3.11, on file systems that support it), read and
// write: through the handle fsys holds of dir where fsys is bound to it
// (see [Bind]), so that the file is made in the directory bound wherever
// it was moved, else by path. In a bound directory that was removed it
// fails with an error matching fs.ErrNotExist, as an open by path would,
// on every file system: the kernel refuses O_TMPFILE there with EPERM on
// ext4, and tmpfs makes the file.
func OpenTmpfile(fsys FS, dir string, perm os.FileMode) (*os.File, error) {
	b, ok := fsys.(*boundFS)
	if !ok {
		return os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, perm)
	}
	if rel, in := b.in(dir); !in || rel != "." {
		return os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, perm)
	}
	removed := func() bool {
		fi, err := b.dir.Stat()
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		return ok && st.Nlink == 0
	}
	gone := func() error {
		return &fs.PathError{Op: "open", Path: dir, Err: fmt.Errorf("the directory was removed: %w", syscall.ENOENT)}
	}
	if removed() {
		return nil, gone()
	}
	f, err := openat(b.dir, ".", dir, unix.O_RDWR|unix.O_TMPFILE, perm)
	if err != nil && removed() {
		return nil, gone() // removed between the look and the open
	}
	return f, err
}
