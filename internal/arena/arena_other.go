//go:build !unix && !windows

package arena

import (
	"errors"
	"os"
	"unsafe"
)

// platArena holds one mmap-go mapping per mapped slot: without a way to map
// at a fixed address, each slot lives where the system puts it, and the
// Arena is not contiguous.
type platArena struct {
	slots perSlot
}

// reserve reserves nothing: there is no range to hold, only room for the
// per-slot mappings.
func (a *Arena) reserve() error {
	a.plat.slots.init(a.nslots)
	return nil
}

// mapSlot maps f as slot k wherever the system puts it.
func (a *Arena) mapSlot(k int, f *os.File, writable bool) (unsafe.Pointer, error) {
	return a.plat.slots.mapAt(k, f, a.slotSize, writable)
}

// unmapSlot unmaps slot k's mapping, if it has one.
func (a *Arena) unmapSlot(k int) error {
	return a.plat.slots.unmapAt(k)
}

// release unmaps every slot.
func (a *Arena) release() error {
	return a.plat.slots.unmapAll()
}

// flushSlot flushes the slot's mapping, if it has one.
func (a *Arena) flushSlot(k int) error {
	return a.plat.slots.flushAt(k)
}

// advise does nothing: the platform has no madvise(2), and the hints only
// change speed, never results.
func advise(p unsafe.Pointer, n int64, adv Advice) error { return nil }

// unmapRun is not done here: every slot is a mapping of its own (see
// UnmapSlots).
func (a *Arena) unmapRun(lo, n int) error { return errors.ErrUnsupported }

// dupFile returns nil: mmap-go keeps no file handle here, so the mapping
// needs none of its own.
func dupFile(*os.File) (*os.File, error) { return nil, nil }
