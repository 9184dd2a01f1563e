//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// allocated returns the bytes the file system has allocated to the file fi
// describes: st_blocks is in 512-byte units on every Unix (stat(2)).
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
