package chunk

import "golang.org/x/sys/unix"

// HolesFault reports whether reading a hole of a file in dir through a
// shared mapping needs a new page of the file system's own, as on tmpfs
// (where a file's pages are its storage): there, once the file system is
// full, such a read faults (SIGBUS) although read(2) of the same bytes
// returns zeros. Elsewhere a read fault on a hole maps a page of zeros
// from the page cache and allocates nothing on disk.
func HolesFault(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}
