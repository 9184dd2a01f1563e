//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// allocated returns the bytes the file system has allocated to the file fi
// describes: st_blocks is in 512-byte units on every Unix (stat(2)).
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}

// openDir opens the directory dir to list it. O_DIRECTORY: a FIFO that
// another program put under the name since it was looked at fails at once
// (ENOTDIR), where a plain open would wait for a writer forever.
func openDir(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
}

// giveOwnerMode gives the directory path the owner, group and mode of the
// directory fi describes: a directory salvage puts in place of an empty one
// must not change who owns OUT or who may enter it. It fails where this
// user may not (chown(2): only root gives a file away). It works on the
// directory it opens, with O_NOFOLLOW: whoever may write path's parent may
// swap the directory for a symlink at any time, and chmod(2) or chown(2)
// by path would follow it (as root, to /etc/shadow, say).
func giveOwnerMode(path string, fi fs.FileInfo) (err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		now, err := f.Stat()
		if err != nil {
			return err
		}
		if ns, ok := now.Sys().(*syscall.Stat_t); !ok || ns.Uid != st.Uid || ns.Gid != st.Gid {
			// The owner first: chown(2) may clear the set-group-ID bit.
			if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
	}
	return f.Chmod(fi.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSetuid | fs.ModeSticky))
}

// giveFilesOwner gives the files of the dataset salvage made in dir (its
// chunk files and manifest) the owner and group of the directory fi
// describes, OUT as it was, where they differ and salvage runs as root:
// root salvaging into a user's directory would otherwise leave that user a
// dataset of root's files, mode 0644, which the user's read-write Open
// refuses (EACCES). A user other than root cannot give files away, and
// leaves them its own, as any file it makes.
//
// In a copy made in place, dir is OUT, which its owner may change at any
// time: each file is opened under dir's descriptor with O_NOFOLLOW (a
// symlink is not followed) and O_NONBLOCK (a FIFO does not block), and only
// a regular file of root's with no other name (a hard link to /etc/shadow
// has two) is given away, through that descriptor. dir itself is opened
// with O_NOFOLLOW too: in a copy built beside OUT it is the temporary
// directory in OUT's parent, which may be that user's own (root salvaging
// into /home/user/out), who may then put a symlink under its name, to a
// directory of root's datasets, say, whose files would be given away.
func giveFilesOwner(dir string, fi fs.FileInfo) (err error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	d, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.Close(); err == nil {
			err = cerr
		}
	}()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, isChunk := chunk.ParseName(name); !isChunk && name != chunkmap.ManifestName {
			continue
		}
		if err := giveFileOwner(int(d.Fd()), dir, name, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// giveFileOwner gives the file name in the directory open as dirfd (dir,
// for messages) owner uid and group gid, as giveFilesOwner says.
func giveFileOwner(dirfd int, dir, name string, uid, gid int) error {
	path := filepath.Join(dir, name)
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOENT) {
		return nil // a symlink, or gone: not a file salvage made
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if now.Mode&unix.S_IFMT != unix.S_IFREG || now.Uid != 0 || now.Nlink != 1 ||
		(int(now.Uid) == uid && int(now.Gid) == gid) {
		return nil
	}
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return &fs.PathError{Op: "chown", Path: path, Err: err}
	}
	// The owner is the inode's: durable with the file's fsync, which the
	// directory's does not imply.
	if err := unix.Fsync(fd); err != nil {
		return &fs.PathError{Op: "sync", Path: path, Err: err}
	}
	return nil
}

// renameDir renames the directory from to to, replacing to where it is an
// empty directory, as rename(2) does atomically. os.Rename refuses every
// existing directory (EEXIST), to behave as it does on Windows.
func renameDir(from, to string) error {
	if err := unix.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// resolve returns path absolute and with its symlinks resolved, as far as
// it exists, as a Unix kernel resolves it: a ".." steps out of what the
// component before it resolved to (filepath.Abs and Clean would drop both
// as text, and "L/.." is not "." when L is a symlink).
func resolve(path string) (string, error) {
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		path = wd + string(filepath.Separator) + path
	}
	parts := strings.Split(path, string(filepath.Separator))
	for i := len(parts); i > 0; i-- {
		prefix := strings.Join(parts[:i], string(filepath.Separator))
		if prefix == "" {
			prefix = string(filepath.Separator)
		}
		real, err := filepath.EvalSymlinks(prefix)
		if err != nil {
			continue
		}
		for _, p := range parts[i:] {
			if p == ".." {
				return "", fmt.Errorf("%s: %w (a \"..\" follows a name that does not exist)", path, fs.ErrNotExist)
			}
		}
		return filepath.Join(append([]string{real}, parts[i:]...)...), nil
	}
	return filepath.Clean(path), nil
}
