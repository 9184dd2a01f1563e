//go:build unix

package chunk

import (
	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// FreeSpace returns the bytes available to an unprivileged user on the file
// system holding dir (statfs(2): f_bavail blocks; the memory and swap for a
// memory file system without a size limit), or an error wrapping
// errors.ErrUnsupported where the file system counts no blocks otherwise
// (vfs.Avail).
func FreeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return vfs.Avail(&st)
}
