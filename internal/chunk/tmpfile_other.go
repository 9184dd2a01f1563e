//go:build unix && !linux

package chunk

import (
	"errors"
	"os"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// openTmpfile fails: only Linux has O_TMPFILE.
func openTmpfile(fsys vfs.FS, dir string, perm os.FileMode) (*os.File, error) {
	return nil, errors.ErrUnsupported
}
