//go:build unix

package chunkmap

import (
	"io/fs"
	"syscall"
)

// fileKey identifies a file on this system: its device and inode.
type fileKey struct{ dev, ino uint64 }

// linkedKey returns the identity of the file fi describes where it has
// more than one name (hard links), and false where it has one, or where
// fi does not say (a FileInfo not from the system's lstat).
func linkedKey(fi fs.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: st.Ino}, true
}
