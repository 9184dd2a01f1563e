//go:build unix && !linux

package chunk

import (
	"errors"
	"os"
)

// openTmpfile fails: only Linux has O_TMPFILE.
func openTmpfile(dir string, perm os.FileMode) (*os.File, error) {
	return nil, errors.ErrUnsupported
}
