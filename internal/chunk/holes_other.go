//go:build !linux

package chunk

// HolesFault reports whether reading a hole of a file in dir through a
// shared mapping needs a new page of the file system's own. It is false
// here: the only file system known to need one is Linux's tmpfs.
func HolesFault(dir string) bool { return false }
