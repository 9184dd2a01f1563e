//go:build !unix

package main

import (
	"io/fs"
	"os"
)

// allocated returns the file's size: without st_blocks the allocation is not
// known; on Windows chunk files are allocated whole, so their size is what
// they take.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }

// openDir opens the directory dir to list it.
func openDir(dir string) (*os.File, error) { return os.Open(dir) }
