//go:build unix

package chunk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// createUnnamed creates a file in dir that has no name once it returns.
// Where the kernel has no O_TMPFILE, the file exists under path for the
// instant between creating and unlinking it; a crash exactly there leaves a
// temporary chunk name behind.
func createUnnamed(dir, path string, perm os.FileMode) (*os.File, error) {
	if f, err := openTmpfile(dir, perm); err == nil {
		return f, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}

// dupFile returns a second descriptor for f's open file.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}
