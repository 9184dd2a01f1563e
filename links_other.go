//go:build !unix

package chunkmap

import "io/fs"

// fileKey identifies a file on this system: nothing here, where Open's
// lstat of a chunk file does not say how many names the file has
// (Windows: that takes opening the file, which Open does not do for every
// chunk), so two chunk names of one file are not detected.
type fileKey struct{}

// linkedKey reports false: see fileKey.
func linkedKey(fs.FileInfo) (fileKey, bool) { return fileKey{}, false }
