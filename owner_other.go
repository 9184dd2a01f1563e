//go:build !unix

package chunkmap

import (
	"io/fs"
	"os"
)

// keepOwner does nothing where files have no Unix owner: a file's access
// is the directory's (Windows inherits it from the folder).
func keepOwner(*os.File, fs.FileInfo, fs.FileMode) error { return nil }
