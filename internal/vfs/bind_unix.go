//go:build unix

package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// bindTries is how many times Bind opens a directory that moves while it
// does (given no descriptor of it) before it gives up.
const bindTries = 3

func (osFS) Bind(dir string, locked *os.File) (FS, func() error, error) {
	dir = filepath.Clean(dir)
	for tries := 1; ; tries++ {
		b, err := bind(dir, locked)
		switch {
		case err == nil:
			return b, b.close, nil
		case !errors.Is(err, ErrMoved) || locked != nil || tries == bindTries:
			return nil, nil, err
		}
	}
}

// boundFS is [OS] bound to one directory (see [Bind]). Files in it are
// opened through a descriptor of it (dir), with openat(2) and O_NOFOLLOW,
// in one system call as by path; the rest goes through a Root, whose
// methods return what package os does. (A Root's own open follows a
// symlink that stays inside it: refusing one, as OS does, would take a look
// at the name after every open.)
type boundFS struct {
	path string // the directory's path, cleaned
	dir  *os.File
	root *os.Root
}

// bind opens the directory at path, or the one locked has open, twice:
// as a descriptor and as a Root, which must be the same directory.
func bind(path string, locked *os.File) (*boundFS, error) {
	var dir *os.File
	var err error
	if locked != nil {
		dir, err = openat(locked, ".", path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	} else {
		dir, err = os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, err
	}
	// By path, as os.OpenRoot opens it: with a trailing "/." it names a
	// directory or nothing, so that a FIFO another program put under the
	// name since dir was opened fails at once (ENOTDIR) instead of
	// blocking this open until a writer comes (OpenRoot passes no
	// O_DIRECTORY). Whatever it opens must be dir (checked below).
	root, err := os.OpenRoot(path + string(filepath.Separator) + ".")
	if err != nil {
		// The "/." is this function's: the error names the directory
		// as the caller gave it (a directory that may be read but not
		// searched, mode 0o644, fails here), so that the caller can
		// tell its own path in it.
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == path+string(filepath.Separator)+"." {
			pe.Path = path
		}
		return nil, errors.Join(err, dir.Close())
	}
	d, err := dir.Stat()
	if err == nil {
		var r fs.FileInfo
		if r, err = root.Stat("."); err == nil && !os.SameFile(d, r) {
			err = &fs.PathError{Op: "open", Path: path, Err: ErrMoved}
		}
	}
	if err != nil {
		return nil, errors.Join(err, root.Close(), dir.Close())
	}
	return &boundFS{path: path, dir: dir, root: root}, nil
}

func (b *boundFS) close() error { return errors.Join(b.root.Close(), b.dir.Close()) }

// openat opens name in the directory that dir has open, with flag and
// perm (a permission: its bits are the system's), and returns it as a
// file named path.
func openat(dir *os.File, name, path string, flag int, perm os.FileMode) (*os.File, error) {
	rc, err := dir.SyscallConn()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	fd := -1
	cerr := rc.Control(func(dfd uintptr) {
		for {
			fd, err = unix.Openat(int(dfd), name, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
			if err != unix.EINTR {
				break
			}
		}
	})
	if cerr != nil {
		err = cerr
	}
	if err == nil {
		// Before NewFile looks at it, so that a regular file is not
		// given to the poller (see clearNonblockFD).
		if err = clearNonblockFD(fd); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// in returns the name of path in the bound directory ("." for the
// directory itself), and false if path is not in it.
func (b *boundFS) in(path string) (string, bool) {
	path = filepath.Clean(path)
	switch {
	case path == b.path:
		return ".", true
	case filepath.Dir(path) == b.path:
		return filepath.Base(path), true
	}
	return "", false
}

func (b *boundFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	rel, ok := b.in(name)
	if !ok || rel == "." {
		return OS.OpenFile(name, flag, perm)
	}
	open := func() (*os.File, error) { return openat(b.dir, rel, name, flag|openFlags, perm) }
	lstat := func() (fs.FileInfo, error) { return b.root.Lstat(rel) }
	return openRegular(name, flag, open, lstat)
}

func (b *boundFS) Remove(name string) error {
	rel, ok := b.in(name)
	switch {
	case ok && rel == ".":
		return b.removeSelf(name)
	case ok:
		return renamed(b.root.Remove(rel), "remove", name)
	}
	return OS.Remove(name)
}

// removeSelf removes the bound directory itself, named name, which must be
// empty: through its parent, and only while the name there still leads to
// it. By path, os.Remove would remove whatever stands under the name now:
// another program that renamed the directory and put a symlink or an
// empty directory of its own there would lose that (Remove of a dataset
// whose files it had just removed from the directory it locked, say). A
// name that leads elsewhere is an error wrapping ErrMoved, and nothing is
// removed. What another program puts under the name between the check
// and the removal is never removed where rmdirIfSame can tell (Linux);
// elsewhere only if it is an empty directory, never a symlink or a file.
func (b *boundFS) removeSelf(name string) error {
	fail := func(err error) error { return &fs.PathError{Op: "remove", Path: name, Err: err} }
	// Removing a directory takes write and search permission on its
	// parent, not read permission: where it can, the parent is opened
	// for the *at calls only (parentOpen), so that an unreadable parent
	// (mode 0o300) does not fail a removal os.Remove would make.
	parent, err := os.OpenFile(filepath.Dir(b.path), parentOpen|unix.O_DIRECTORY, 0)
	if err != nil {
		return fail(bareErr(err))
	}
	defer parent.Close()
	var mine unix.Stat_t
	if err := fdDo(b.dir, func(fd int) error { return unix.Fstat(fd, &mine) }); err != nil {
		return fail(err)
	}
	base := filepath.Base(b.path)
	err = fdDo(parent, func(pfd int) error {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Dev != mine.Dev || st.Ino != mine.Ino {
			return ErrMoved
		}
		return rmdirIfSame(pfd, base, &mine)
	})
	if err != nil {
		return fail(err)
	}
	return nil
}

// fdDo calls f with the descriptor of f's file, and returns its error.
func fdDo(file *os.File, f func(fd int) error) error {
	rc, err := file.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) { err = f(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// bareErr returns the error inside a *fs.PathError, for an error that is
// wrapped in another naming the path.
func bareErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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

// MkdirAll goes by path: a Manager makes its directory before it binds it.
func (b *boundFS) MkdirAll(dir string, perm os.FileMode) error { return OS.MkdirAll(dir, perm) }

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
		// Through the descriptor held since bind: an open of the
		// directory would need read permission, which its mode may no
		// longer give (0o311) while every file in it can be synced.
		return renamed(dirSynced(b.dir.Sync()), "sync", dir)
	}
	return OS.SyncDir(dir)
}

func (b *boundFS) BootID() (string, error) { return OS.BootID() }

// FreeSpace returns the bytes available to an unprivileged user on the file
// system of the bound directory (fstatfs(2)), which may no longer be the
// one its path leads to (or as Avail says where the file system counts no
// blocks).
func (b *boundFS) FreeSpace() (int64, error) {
	rc, err := b.dir.SyscallConn()
	if err != nil {
		return 0, err
	}
	var st unix.Statfs_t
	if cerr := rc.Control(func(fd uintptr) { err = unix.Fstatfs(int(fd), &st) }); cerr != nil {
		return 0, cerr
	}
	if err != nil {
		return 0, &fs.PathError{Op: "statfs", Path: b.path, Err: err}
	}
	return Avail(&st)
}

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
