package arena

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// overLimit empties slot k where the kernel refused to put a reservation
// over it with ENOMEM (refused, the error). That happens when the process
// has more mappings than vm.max_map_count allows: the kernel then refuses
// every mmap, also one that would only replace a mapping by another, while
// munmap of a whole mapping, which needs no new one, still works. Without
// it no slot could be emptied, nothing given back, and the process could
// not map a heap arena or a thread's stack again: it would die.
//
// So the slot is unmapped, which leaves its range a hole for an instant,
// and the reservation is put back with MAP_FIXED_NOREPLACE, which fails
// rather than replace whatever another thread of the process may have
// mapped into the hole in that instant. If it fails (that, or the limit
// still reached), the slot is lost: the range may hold another owner's
// mapping, so the Arena never maps or unmaps there again (ErrSlotLost).
// No access through the Arena's addresses can harm a mapping there: the
// Manager's readers load a lost slot's bytes only through an address
// taken before it was emptied, and discard them on their second check, as
// they do for any slot emptied under them; no writer or holder is left in
// a slot that is being emptied.
func (a *Arena) overLimit(k int, refused error) error {
	p, n := a.slotAddr(k), uintptr(a.slotSize)
	if err := unix.MunmapPtr(p, n); err != nil {
		return refused // the slot still maps its chunk, and stays usable
	}
	if holeHook != nil {
		holeHook(p, n)
	}
	q, err := reserveAt(p, n, unix.MAP_FIXED_NOREPLACE)
	if err == nil && q == p {
		return nil
	}
	if err == nil {
		// A kernel before 4.17 takes the flag for a hint and maps
		// elsewhere.
		unix.MunmapPtr(q, n)
		err = unix.EEXIST
	}
	return fmt.Errorf("%w: %w (then putting the reservation back: %w)", ErrSlotLost, refused, err)
}

// Test hooks (see SetLimitHooks): mapHook and unmapHook say whether mapping
// a file at slot k, or putting the reservation back over it, is to be
// refused as if over the limit; holeHook runs while a slot emptied by
// overLimit is a hole, to map something there as another thread could.
var (
	mapHook, unmapHook func(k int) bool
	holeHook           func(p unsafe.Pointer, n uintptr)
)

// SetLimitHooks is for tests, of this package and of the Manager: from now
// on, mapping a file at slot k fails with ENOMEM where refuseMap(k) says
// so, and so does emptying it where refuseUnmap(k) does, as over the limit
// of mappings; hole (if not nil) runs while an emptied slot is a hole. Nil
// functions restore the system's behaviour. Not safe for use while an
// Arena is in use by another goroutine.
func SetLimitHooks(refuseMap, refuseUnmap func(k int) bool, hole func(p unsafe.Pointer, n uintptr)) {
	mapHook, unmapHook, holeHook = refuseMap, refuseUnmap, hole
}

// refused reports whether a test has mapping (or, with unmap, emptying)
// slot k refused.
func refused(k int, unmap bool) bool {
	if unmap {
		return unmapHook != nil && unmapHook(k)
	}
	return mapHook != nil && mapHook(k)
}
