//go:build unix && !linux

package arena

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// overLimit returns the error of a refused reservation as it is: these
// systems count no mappings per process, so ENOMEM there is out of memory
// or address space, and the slot keeps its mapping.
func (a *Arena) overLimit(k int, refused error) error { return refused }

// refusedMap returns the error of a refused mapping as it is: these
// systems check a file before they replace what its mapping goes over.
func (a *Arena) refusedMap(k int, refused error) error { return refused }

// ownHole reports whether the n bytes at p, in a reservation where a
// mapping was refused, are still the reservation: always here (see
// refusedMap).
func ownHole(base unsafe.Pointer, size uintptr, p unsafe.Pointer, n uintptr, refused error) bool {
	return true
}

// nameReservation does nothing here: these systems do not name mappings,
// nor need to (see refusedMap).
func nameReservation(p unsafe.Pointer, n uintptr) {}

// refusedByTest is the error of a mapping a test refused: never here
// (see refused), and as over the limit if it were.
func (a *Arena) refusedByTest(k int) error { return unix.ENOMEM }

// refused reports whether a test has mapping (or, with unmap, emptying)
// slot k refused: never here.
func refused(k int, unmap bool) bool { return false }
