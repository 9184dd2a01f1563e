//go:build unix

package chunkmap

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// detachStateLocked lets go of the manifest file at Close. The state page
// stays at its address, for lock-free calls still in flight, until the
// arena goes (releaseArenaLocked); but as a copy of itself, so that the
// manifest's file is no longer mapped: it may be deleted, its space freed
// and its file system unmounted while the program keeps the closed
// Manager. A page that cannot be copied (another program cut the file
// under it, or its file system failed while the page was not in memory)
// faults for every load anyway: an inaccessible reservation takes its
// place, which faults the same and lets go of the file. Kept mapped, the
// file held its file system, which could not be unmounted (EBUSY) until
// the Manager was collected.
//
// REQUIRES: m.mu held, m.live false, m.mfile not nil.
func (m *Manager) detachStateLocked() error {
	// Only a page that faulted: after any other failure (no memory for
	// the copy) the page still reads, and calls in flight may load from
	// it, so it stays a mapping of the file until the arena goes.
	if err := detachMapping(m.mfile.mm, !m.opts.ReadOnly); errors.Is(err, ErrFault) {
		// MAP_FIXED replaces the mapping in one step: the range is never
		// free for another owner, whose mapping the unmap of the retired
		// page (releaseArenaLocked) would take.
		b := m.mfile.mm
		_, _ = unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED)
	}
	return m.mfile.f.Close()
}
