//go:build unix

package chunk

import "golang.org/x/sys/unix"

// FreeSpace returns the bytes available to an unprivileged user on the file
// system holding dir (statfs(2): f_bavail × f_bsize).
func FreeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
