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

// canMoveOverEmpty says that moveOverEmpty works here.
const canMoveOverEmpty = true

// moveOverEmpty renames directory from over to, an empty directory, in
// one step: rename(2) replaces an empty directory (os.Rename refuses to).
func moveOverEmpty(from, to string) error {
	if err := unix.Rename(from, to); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// moveNew renames directory from to to, where nothing stands: with
// RENAME_NOREPLACE, which fails if something was put there meanwhile. A
// kernel or file system without the flag fails with an error matching
// errors.ErrUnsupported, and the caller renames as os.Rename does.
func moveNew(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("renameat2 (RENAME_NOREPLACE): %w: %w", err, errors.ErrUnsupported)
	}
	return fmt.Errorf("rename: %w", err)
}
