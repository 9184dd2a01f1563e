//go:build unix && !linux

package chunkmap

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// detachMapping turns b, a shared mapping of a file (the manifest's), into
// private anonymous memory that holds the same bytes at the same address,
// read-only unless writable (see detach_linux.go). Without mremap's move,
// the anonymous memory replaces b first (MAP_FIXED, one step) and the
// bytes are copied back after, so a concurrent load may see zeros in
// between: only calls racing with Close load there, a zero Size or Start
// sends them to the paths that check for a closed Manager, and a reader
// takes a page of zeros after Close for no sign of damage (pageGone).
func detachMapping(b []byte, writable bool) error {
	saved := make([]byte, len(b))
	if f := copyGuarded(saved, b); f.hit {
		return fmt.Errorf("%w at %#x", ErrFault, f.addr)
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if _, err := unix.MmapPtr(-1, 0, p, uintptr(len(b)), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_FIXED|unix.MAP_PRIVATE|unix.MAP_ANON); err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	copy(b, saved)
	if !writable {
		if err := unix.Mprotect(b, unix.PROT_READ); err != nil {
			return fmt.Errorf("mprotect: %w", err)
		}
	}
	return nil
}
