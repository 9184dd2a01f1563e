package vfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// parentOpen is how removeSelf opens the parent it removes through: O_PATH,
// which needs no read permission on it, and serves fstatat, renameat2 and
// unlinkat.
const parentOpen = unix.O_PATH

// rmdirIfSame removes the empty directory name in the directory pfd has
// open if it is the one st describes, or fails with ErrMoved and removes
// nothing. A check and an rmdir are two lookups of the name, and another
// program may put an empty directory of its own under it in between: so
// the name's entry is first renamed (RENAME_NOREPLACE) to a name of its
// own, which nothing else uses, looked at there, and removed only if it is
// st's directory; anything else is renamed back. The aside name does not
// contain name: it must fit NAME_MAX (255 bytes) whatever name's length.
// Where the rename is refused (no RENAME_NOREPLACE; a directory of an
// overlay's lower layer) the name is removed as rmdir(2) would.
func rmdirIfSame(pfd int, name string, st *unix.Stat_t) error {
	aside := AsideName()
	err := unix.Renameat2(pfd, name, pfd, aside, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EXDEV) {
		// A file system (or kernel) without RENAME_NOREPLACE; or
		// overlayfs, which cannot rename a directory that its lower
		// layer holds (unless mounted with redirect_dir) but removes
		// it with a whiteout, as a container expects.
		return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return err
	}
	var now unix.Stat_t
	err = unix.Fstatat(pfd, aside, &now, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && (now.Dev != st.Dev || now.Ino != st.Ino) {
		err = ErrMoved
	}
	if err == nil {
		if err = unix.Unlinkat(pfd, aside, unix.AT_REMOVEDIR); err == nil {
			return nil
		}
	}
	// Not st's directory, or not empty (another program put a file in
	// it): put it back under its name.
	if rerr := unix.Renameat2(pfd, aside, pfd, name, unix.RENAME_NOREPLACE); rerr != nil {
		return errors.Join(err, fmt.Errorf("rename %s back to %s: %w", aside, name, rerr))
	}
	return err
}
