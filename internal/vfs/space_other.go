//go:build unix && !linux

package vfs

import "golang.org/x/sys/unix"

// memoryLimit knows no file system that keeps its files in memory without
// a size limit here (see space_linux.go).
func memoryLimit(*unix.Statfs_t) (int64, bool) { return 0, false }

// blockUnit returns the size of the blocks st counts: f_bsize, the
// fundamental block size on the BSDs and macOS.
func blockUnit(st *unix.Statfs_t) int64 { return int64(st.Bsize) }
