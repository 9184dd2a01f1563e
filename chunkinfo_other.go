//go:build !windows

package chunkmap

import (
	"io/fs"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// chunkInfo describes chunk idx's file in dir, listed by Open as e, for
// checkChunkFile: the listing's own description. Where the directory is
// read through its handle (an os.Root, on Unix), ReadDir has already made
// an lstat of every entry, and a second one per chunk was a third of the
// time of an Open; elsewhere (Unix by path, wasip1) Info makes the lstat
// itself, when it is called; on Plan 9 the listing holds each file's
// stat. (Not on Windows: see chunkinfo_windows.go.)
func chunkInfo(fsys vfs.FS, dir string, idx int64, e fs.DirEntry) (fs.FileInfo, error) {
	return e.Info()
}
