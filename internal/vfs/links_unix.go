//go:build unix

package vfs

import (
	"io/fs"
	"syscall"
)

// FileID identifies a file on this system: its device and inode.
type FileID struct{ dev, ino uint64 }

// Linked returns the identity of the file fi describes where it has more
// than one name (hard links), and false where it has one, or where fi
// does not say (a FileInfo not from the system's lstat). Two names of a
// dataset that are one file hold one file's bytes where the dataset
// expects two.
func Linked(fi fs.FileInfo) (FileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 {
		return FileID{}, false
	}
	return FileID{dev: uint64(st.Dev), ino: st.Ino}, true
}
