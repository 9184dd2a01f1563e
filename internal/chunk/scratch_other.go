//go:build !unix && !windows

package chunk

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

func createUnnamed(fsys vfs.FS, dir string, index int64, perm os.FileMode) (*os.File, error) {
	return nil, fmt.Errorf("%w on %s/%s", errors.ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

func dupFile(f *os.File) (*os.File, error) {
	return nil, fmt.Errorf("%w on %s/%s", errors.ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}
