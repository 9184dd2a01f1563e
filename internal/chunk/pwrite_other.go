//go:build !unix

package chunk

import (
	"io/fs"
	"os"
)

// osFd returns -1: writeOS uses os.File.WriteAt here.
func osFd(f *os.File) int { return -1 }

// writeOS writes p at offset off of the chunk's operating system file.
func (c *File) writeOS(osf *os.File, p []byte, off int64) (int, error) {
	return osf.WriteAt(p, off)
}

// Len returns the size the open file has now.
func (c *File) Len() (int64, error) {
	if c.f == nil {
		return 0, c.err("stat", fs.ErrClosed)
	}
	fi, err := c.f.Stat()
	if err != nil {
		return 0, c.err("stat", err)
	}
	return fi.Size(), nil
}
