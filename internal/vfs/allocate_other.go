//go:build !linux && !windows

package vfs

import (
	"errors"
	"fmt"
	"os"
)

// allocate is unsupported: without fallocate(2) there is no way to allocate
// a range without writing it, so callers preallocate whole files instead.
func allocate(*os.File, int64, int64) error {
	return fmt.Errorf("allocate: %w on this platform", errors.ErrUnsupported)
}
