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

// canMoveOverEmpty says that moveOverEmpty does not work here: Rename
// removes the empty directory before it moves the dataset.
const canMoveOverEmpty = false

// moveOverEmpty fails: see canMoveOverEmpty.
func moveOverEmpty(from, to string) error { return errNoExchange }

// moveNew fails with an error matching errors.ErrUnsupported: the caller
// renames as os.Rename does.
func moveNew(from, to string) error { return errors.ErrUnsupported }
