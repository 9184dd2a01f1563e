//go:build !(linux || darwin || freebsd)

package chunk

import "errors"

// FirstHole would say where the first hole of the chunk file at or after
// from begins; these systems have no SEEK_HOLE, and it fails with an error
// wrapping errors.ErrUnsupported.
func (c *File) FirstHole(from int64) (int64, error) {
	return 0, c.err("seek hole", errors.ErrUnsupported)
}

// AllocatedBytes would return the bytes of disk the chunk file takes; these
// systems have no SEEK_HOLE for it to be weighed against, and it fails with
// an error wrapping errors.ErrUnsupported.
func (c *File) AllocatedBytes() (int64, error) {
	return 0, c.err("stat", errors.ErrUnsupported)
}
