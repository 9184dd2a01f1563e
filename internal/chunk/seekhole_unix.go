//go:build linux || darwin || freebsd

package chunk

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// FirstHole returns where the first hole of the chunk file at or after from
// begins (lseek with SEEK_HOLE), or the file's size if it has none there.
// It is a hint of how much of the file is written, for choosing how to
// write, and must never be taken for allocation: file systems differ in
// what they call a hole (ext4 reports blocks fallocated but not written as
// holes, and a FUSE file system that cannot tell says there is none). It
// fails with an error wrapping errors.ErrUnsupported where the File has no
// descriptor or the file system cannot seek to holes.
func (c *File) FirstHole(from int64) (int64, error) {
	if c.f == nil {
		return 0, c.err("seek hole", fs.ErrClosed)
	}
	osf := c.f.OS()
	if osf == nil {
		return 0, c.err("seek hole", errors.ErrUnsupported)
	}
	// The descriptor's offset moves; nothing reads or writes at it.
	off, err := osf.Seek(from, unix.SEEK_HOLE)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENXIO):
		// No SEEK_HOLE here, or from at or past the end, which the
		// size of a chunk file another program cut makes.
		return 0, c.err("seek hole", fmt.Errorf("%w: %w", errors.ErrUnsupported, err))
	case err != nil:
		return 0, c.err("seek hole", err)
	}
	return off, nil
}

// AllocatedBytes returns the bytes of disk the chunk file takes (fstat's
// st_blocks, in units of 512 bytes): where they are as many as its size,
// allocating it whole costs next to nothing more. Like FirstHole it is a
// hint for choosing how to write, never taken for allocation: the blocks
// may include a file system's own (an extent tree's), so a file with a
// small hole may count as whole. It fails with an error wrapping
// errors.ErrUnsupported where the File has no descriptor.
func (c *File) AllocatedBytes() (int64, error) {
	if c.f == nil {
		return 0, c.err("stat", fs.ErrClosed)
	}
	osf := c.f.OS()
	if osf == nil {
		return 0, c.err("stat", errors.ErrUnsupported)
	}
	fi, err := osf.Stat()
	if err != nil {
		return 0, c.err("stat", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, c.err("stat", errors.ErrUnsupported)
	}
	return st.Blocks * 512, nil
}
