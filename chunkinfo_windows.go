package chunkmap

import (
	"io/fs"
	"path/filepath"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// chunkInfo describes chunk idx's file in dir, listed by Open as e, for
// checkChunkFile. Here it asks the file itself (fsys.Lstat), as Open did
// before it used the listing: DirEntry.Info on Windows is the directory
// entry the listing read (FILE_ID_BOTH_DIR_INFO), not a fresh lstat, and
// NTFS updates the size in a directory entry lazily, so a chunk file a
// live writer created and extended through a handle it still holds can be
// listed with its old size (0 bytes).
func chunkInfo(fsys vfs.FS, dir string, idx int64, e fs.DirEntry) (fs.FileInfo, error) {
	return fsys.Lstat(filepath.Join(dir, chunk.Name(idx)))
}
