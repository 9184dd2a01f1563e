//go:build unix && !linux

package vfs

import "golang.org/x/sys/unix"

// parentOpen is how removeSelf opens the parent it removes through: for
// reading, which takes read permission on it (O_PATH is Linux's).
const parentOpen = unix.O_RDONLY

// rmdirIfSame removes the empty directory name in the directory pfd has
// open, which the caller found to be the one st describes: rmdir, so that
// what another program may have put under the name since goes only if it
// is an empty directory, never a symlink or a file. (Linux closes that
// instant too, see rmdir_linux.go.)
func rmdirIfSame(pfd int, name string, st *unix.Stat_t) error {
	return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
}
