//go:build !unix && !windows

package chunk

import (
	"errors"
	"fmt"
	"runtime"
)

// FreeSpace is not available on this platform.
func FreeSpace(dir string) (int64, error) {
	return 0, fmt.Errorf("%w on %s/%s", errors.ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}
