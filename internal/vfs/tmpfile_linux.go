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
// fails with an error matching fs.ErrNotExist, as an open by path would
// (the kernel refuses O_TMPFILE there with EPERM, or ENOENT).
func OpenTmpfile(fsys FS, dir string, perm os.FileMode) (*os.File, error) {
	b, ok := fsys.(*boundFS)
	if !ok {
		return os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, perm)
	}
	if rel, in := b.in(dir); !in || rel != "." {
		return os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, perm)
	}
	f, err := openat(b.dir, ".", dir, unix.O_RDWR|unix.O_TMPFILE, perm)
	if err != nil {
		if fi, serr := b.dir.Stat(); serr == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
				return nil, &fs.PathError{Op: "open", Path: dir, Err: fmt.Errorf("the directory was removed: %w", syscall.ENOENT)}
			}
		}
	}
	return f, err
}
