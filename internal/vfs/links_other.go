//go:build !unix

package vfs

import "io/fs"

// FileID identifies a file on this system: nothing here, where an lstat
// does not say how many names a file has (Windows: that takes opening the
// file), so names that are one file are not detected.
type FileID struct{}

// Linked reports false: see FileID.
func Linked(fs.FileInfo) (FileID, bool) { return FileID{}, false }
