//go:build unix && !linux

package arena

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// flushSlot writes the slot's dirty pages back with msync(MS_SYNC): on
// these systems an fsync of the file does not promise to cover stores made
// through a mapping.
func (a *Arena) flushSlot(k int) error {
	return unix.Msync(unsafe.Slice((*byte)(a.slotAddr(k)), a.slotSize), unix.MS_SYNC)
}

// flushSpan is flushSlot for a view of MapSpan.
func flushSpan(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Msync(b, unix.MS_SYNC)
}
