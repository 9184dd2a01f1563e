package chunk

import (
	"os"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// openTmpfile opens an unnamed file in dir, through fsys's handle of it
// where fsys is bound to it (open(2), O_TMPFILE: Linux 3.11, on file
// systems that support it).
func openTmpfile(fsys vfs.FS, dir string, perm os.FileMode) (*os.File, error) {
	return vfs.OpenTmpfile(fsys, dir, perm)
}
