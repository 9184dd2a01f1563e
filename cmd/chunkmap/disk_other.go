//go:build !unix

package main

import "io/fs"

// allocated returns the file's size: without st_blocks the allocation is not
// known; on Windows chunk files are allocated whole, so their size is what
// they take.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }
