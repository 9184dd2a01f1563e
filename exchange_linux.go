package chunkmap

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// canExchange says that exchangeDirs may work here: Linux swaps two
// directories with renameat2(RENAME_EXCHANGE) from 3.15 on, where the file
// system supports it.
const canExchange = true

// exchangeDirs swaps the directories at a and b in one step. A kernel or
// file system without RENAME_EXCHANGE fails with an error matching
// errNoExchange.
func exchangeDirs(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("renameat2: %w: %w", err, errNoExchange)
	case errors.Is(err, unix.EINVAL):
		// What a file system without RENAME_EXCHANGE says (and what a
		// directory under the other one gets).
		return fmt.Errorf("renameat2 (RENAME_EXCHANGE): %w: %w", err, errNoExchange)
	}
	return fmt.Errorf("renameat2: %w", err)
}

// errNoExchange says that two directories cannot be swapped in one step.
var errNoExchange = fmt.Errorf("the file system may not support it: %w", errors.ErrUnsupported)
