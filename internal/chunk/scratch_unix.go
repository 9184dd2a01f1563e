//go:build unix

package chunk

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// createUnnamed creates a file for chunk index in dir that has no name
// once it returns, through fsys's handle of dir where fsys is bound to it
// (vfs.Bind), so that a directory moved, or replaced under its name by
// another (a symlink elsewhere, say), does not move the dataset's files.
// Where the kernel has no O_TMPFILE, the file exists for the instant
// between creating and unlinking it under a name of its own (scratchName);
// a crash exactly there leaves that name behind, which a writer's Open
// removes.
func createUnnamed(fsys vfs.FS, dir string, index int64, perm os.FileMode) (*os.File, error) {
	f, err := openTmpfile(fsys, dir, perm)
	if err == nil || !tmpfileMissing(err) {
		// Any other refusal (no descriptor free, dir gone) would refuse
		// the named file too, whose error would name a file never made.
		return f, err
	}
	return createThenUnlink(fsys, dir, index, perm)
}

// tmpfileMissing reports whether err, openTmpfile's, says that O_TMPFILE
// is not there to use: unsupported by the platform or the file system
// (EOPNOTSUPP, which matches errors.ErrUnsupported), or unknown to a
// kernel before Linux 3.11, which takes the open for one of the directory
// for writing (EISDIR; man 2 open), or refused as an invalid flag by some
// file systems (EINVAL).
func tmpfileMissing(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL)
}

// createThenUnlink is createUnnamed without O_TMPFILE.
func createThenUnlink(fsys vfs.FS, dir string, index int64, perm os.FileMode) (*os.File, error) {
	for tries := 0; ; tries++ {
		path := filepath.Join(dir, scratchName(index, rand.Uint32()))
		vf, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, perm)
		if errors.Is(err, fs.ErrExist) && tries < 8 {
			continue // another scratch chunk's name of the instant
		}
		if err != nil {
			return nil, err
		}
		f := vf.OS()
		// A writer's Open in the same directory may have removed the name
		// already: either way it is gone.
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, errors.Join(err, f.Close())
		}
		return f, nil
	}
}

// dupFile returns a second descriptor for f's open file. It is made
// close-on-exec in the same call (F_DUPFD_CLOEXEC): a dup followed by a
// separate CloseOnExec would leave a moment in which a fork and exec by
// another goroutine of the program inherits it.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
