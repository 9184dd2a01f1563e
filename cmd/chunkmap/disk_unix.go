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
