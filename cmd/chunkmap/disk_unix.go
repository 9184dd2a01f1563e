//go:build unix

package main

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
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

// giveOwner gives path the owner and group of the directory fi describes,
// where they differ: a directory salvage puts in place of an empty one must
// not change who owns OUT. It fails where this user may not (chown(2):
// only root gives a file away).
func giveOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	now, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if ns, ok := now.Sys().(*syscall.Stat_t); ok && ns.Uid == st.Uid && ns.Gid == st.Gid {
		return nil
	}
	return os.Lchown(path, int(st.Uid), int(st.Gid))
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
