package chunk

import (
	"os"

	"golang.org/x/sys/unix"
)

// openTmpfile opens an unnamed file in dir (open(2), O_TMPFILE: Linux 3.11,
// on file systems that support it).
func openTmpfile(dir string, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, perm)
}
