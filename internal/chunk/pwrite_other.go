//go:build !unix && !windows

package chunk

import (
	"os"
)

// osFd returns -1: writeOS uses os.File.WriteAt here.
func osFd(f *os.File) int { return -1 }

// readOS reads p from offset off of the chunk's operating system file, as
// os.File.ReadAt does.
func (c *File) readOS(osf *os.File, p []byte, off int64) (int, error) {
	return osf.ReadAt(p, off)
}

// writeOS writes p at offset off of the chunk's operating system file.
func (c *File) writeOS(osf *os.File, p []byte, off int64) (int, error) {
	return osf.WriteAt(p, off)
}

// fdLen reports ok false: Len asks the file's Stat here.
func (c *File) fdLen() (size int64, ok bool, err error) { return 0, false, nil }
