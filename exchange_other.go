//go:build !linux

package chunkmap

import (
	"errors"
	"fmt"
	"runtime"
)

// canExchange says that exchangeDirs cannot work here: only Linux's
// renameat2(RENAME_EXCHANGE) is used to swap two directories.
const canExchange = false

// exchangeDirs fails: see canExchange.
func exchangeDirs(a, b string) error { return errNoExchange }

// errNoExchange says that two directories cannot be swapped in one step.
var errNoExchange = fmt.Errorf("not done on %s: %w", runtime.GOOS, errors.ErrUnsupported)
