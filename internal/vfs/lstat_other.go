//go:build !windows

package vfs

import (
	"io/fs"
	"os"
)

// lstat is os.Lstat: its result carries the file's identity (device and
// inode) already.
func lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }
