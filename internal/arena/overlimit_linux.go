package arena

import (
	"errors"
	"fmt"
	"os"
	"time"
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

// refusedMap puts slot k's reservation back where a MAP_FIXED mapping of a
// file over it failed (the error, refused) after the kernel had emptied
// the range: the file system's own check comes last (ext4 and xfs refuse
// with EIO once shut down after a device error), and Linux (6.18 as the
// kernels before it) does not put back what it removed then. The hole
// would be the kernel's to hand out: the Go runtime's next allocation of
// its size (64 KiB, a chunk of the smallest size, is that of its mark-bit
// arenas) took it, and the slot's next mapping, emptying or the arena's
// release replaced or unmapped the runtime's memory, which died with
// SIGSEGV. Where reserved reports the range not this Arena's any more,
// the slot is lost, as in overLimit.
func (a *Arena) refusedMap(k int, refused error) error {
	if err := reserved(a.slotAddr(k), uintptr(a.slotSize), refused); err != nil {
		return fmt.Errorf("%w: %w (then putting the reservation back: %w)", ErrSlotLost, refused, err)
	}
	return refused
}

// ownHole reports whether the n bytes at p, where a mapping was refused
// with the error refused, are this process's reservation (see reserved).
func ownHole(p unsafe.Pointer, n uintptr, refused error) bool {
	return reserved(p, n, refused) == nil
}

// reserved makes sure that the n bytes at p, a reservation over which a
// MAP_FIXED mapping of a file failed with the error refused, are reserved
// still, and returns nil if they are. A range with a hole in it (mincore,
// which maps nothing, fails with ENOMEM there) is reserved again with
// MAP_FIXED_NOREPLACE, which fails where another owner took any of it
// meanwhile. A range wholly mapped is still the reservation where the
// kernel refused before it touched the range, as it does for ENOMEM (the
// limit of mappings, of address space, of committed memory, where a new
// reservation would be refused too); after any other refusal it may be a
// mapping that another owner made in the whole hole (64 KiB of the Go
// runtime's, say), and it is not taken for the reservation. A range
// mincore cannot look at is not taken for the reservation either: taking
// a hole for it would leave the hole to the kernel to hand out, and the
// slot's next mapping would replace what another owner put there.
func reserved(p unsafe.Pointer, n uintptr, refused error) error {
	hole, err := hasHole(p, n)
	if err != nil {
		return fmt.Errorf("cannot tell whether the range is still reserved: %w", err)
	}
	if !hole {
		if errors.Is(refused, unix.ENOMEM) {
			return nil
		}
		return fmt.Errorf("the range is mapped, by this mapping's reservation or by another owner: %w", unix.EEXIST)
	}
	q, err := reserveAt(p, n, unix.MAP_FIXED_NOREPLACE)
	if err == nil && q != p {
		// A kernel before 4.17 takes the flag for a hint and maps
		// elsewhere.
		unix.MunmapPtr(q, n)
		err = unix.EEXIST
	}
	return err
}

// mincoreTries is how many times hasHole asks mincore about one part of a
// range that it refuses with EAGAIN, which it does when it cannot
// allocate the page it works in: memory may be free again an instant
// later.
const mincoreTries = 8

// hasHole reports whether some page of the n bytes at p is not mapped, or
// an error where mincore could not tell.
func hasHole(p unsafe.Pointer, n uintptr) (bool, error) {
	var vec [1024]byte
	page := uintptr(os.Getpagesize())
	for off := uintptr(0); off < n; off += page * uintptr(len(vec)) {
		m := min(n-off, page*uintptr(len(vec)))
		for try := 1; ; try++ {
			e := mincore(uintptr(p)+off, m, &vec[0])
			if e == 0 {
				break
			}
			if e == unix.ENOMEM {
				return true, nil
			}
			if e != unix.EAGAIN || try == mincoreTries {
				return false, fmt.Errorf("mincore of %d bytes at %#x: %w", m, uintptr(p)+off, e)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return false, nil
}

// mincore is the system call, or mincoreHook's answer where a test set it.
func mincore(addr, n uintptr, vec *byte) unix.Errno {
	if mincoreHook != nil {
		if e := mincoreHook(); e != 0 {
			return e
		}
	}
	_, _, e := unix.Syscall(unix.SYS_MINCORE, addr, n, uintptr(unsafe.Pointer(vec)))
	return e
}

// mincoreHook, for tests, makes mincore fail with the errno it returns,
// where that is not 0.
var mincoreHook func() unix.Errno

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
// of mappings; hole (if not nil) runs while an emptied slot is a hole, and
// makes a refused mapping empty the slot first (see refusedByTest). Nil
// functions restore the system's behaviour. Not safe for use while an
// Arena is in use by another goroutine.
func SetLimitHooks(refuseMap, refuseUnmap func(k int) bool, hole func(p unsafe.Pointer, n uintptr)) {
	mapHook, unmapHook, holeHook = refuseMap, refuseUnmap, hole
}

// refusedByTest is the error of a mapping of slot k that a test refused
// (SetLimitHooks): ENOMEM before the slot is touched, as over the limit of
// mappings; or, where the test set a hole hook too, ENOMEM after the slot
// was emptied, as the kernel refuses where an allocation fails after it
// emptied the range, with the hook run while the slot is a hole.
func (a *Arena) refusedByTest(k int) error {
	if holeHook == nil {
		return unix.ENOMEM
	}
	p, n := a.slotAddr(k), uintptr(a.slotSize)
	if err := unix.MunmapPtr(p, n); err != nil {
		return err
	}
	holeHook(p, n)
	return a.refusedMap(k, unix.ENOMEM)
}

// refused reports whether a test has mapping (or, with unmap, emptying)
// slot k refused.
func refused(k int, unmap bool) bool {
	if unmap {
		return unmapHook != nil && unmapHook(k)
	}
	return mapHook != nil && mapHook(k)
}
