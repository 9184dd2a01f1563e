package chunkmap

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// detachMapping turns b, a shared mapping of a file (the manifest's), into
// private anonymous memory that holds the same bytes at the same address,
// read-only unless writable. The file is then no longer mapped, so its
// disk space goes when it is deleted and its file system can be unmounted,
// while a lock-free call still in flight may go on loading from the
// address. The copy is made in a mapping of its own and moved over b with
// mremap(MREMAP_FIXED), which replaces b's pages in one step: a concurrent
// load sees the file's bytes or the copy's, which are the same, never a
// hole or zeros.
func detachMapping(b []byte, writable bool) error {
	n := uintptr(len(b))
	tmp, err := unix.MmapPtr(-1, 0, nil, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	if f := copyGuarded(unsafe.Slice((*byte)(tmp), n), b); f.hit {
		// The file was cut under the mapping by another program.
		return joinUnmap(fmt.Errorf("%w at %#x", ErrFault, f.addr), tmp, n)
	}
	if !writable {
		if err := unix.Mprotect(unsafe.Slice((*byte)(tmp), n), unix.PROT_READ); err != nil {
			return fmt.Errorf("mprotect: %w", joinUnmap(err, tmp, n))
		}
	}
	if _, err := unix.MremapPtr(tmp, n, unsafe.Pointer(unsafe.SliceData(b)), n, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED); err != nil {
		return fmt.Errorf("mremap: %w", joinUnmap(err, tmp, n))
	}
	return nil
}

// joinUnmap unmaps the n bytes at p and returns err with the error of that.
func joinUnmap(err error, p unsafe.Pointer, n uintptr) error {
	if uerr := unix.MunmapPtr(p, n); uerr != nil {
		return fmt.Errorf("%w (and munmap: %w)", err, uerr)
	}
	return err
}
