//go:build unix

package arena

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// platArena is empty on Unix: the reservation is all there is.
//
//lint:ignore U1000 the type exists for the field of Arena that other platforms use
type platArena struct{}

// reserve maps the whole range inaccessible and anonymous. PROT_NONE pages
// are not committed memory, and MAP_NORESERVE (where it exists) keeps the
// range out of overcommit accounting (mmap(2)).
func (a *Arena) reserve() error {
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(int64(a.nslots)*a.slotSize),
		unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
	if err != nil {
		return err
	}
	a.base, a.fixed = p, true
	return nil
}

// mapSlot maps f over slot k with MAP_FIXED, which replaces what was there
// atomically (mmap(2): "If the memory region specified by addr and length
// overlaps pages of any existing mapping(s), then the overlapped part of the
// existing mapping(s) will be discarded").
func (a *Arena) mapSlot(k int, f *os.File, writable bool) (unsafe.Pointer, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	p, err := unix.MmapPtr(int(f.Fd()), 0, a.slotAddr(k), uintptr(a.slotSize), prot, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		return nil, err
	}
	if p != a.slotAddr(k) { // MAP_FIXED never moves a mapping; be sure
		unix.MunmapPtr(p, uintptr(a.slotSize))
		return nil, unix.EINVAL
	}
	return p, nil
}

// unmapSlot puts an inaccessible anonymous reservation over slot k, again
// with MAP_FIXED, so the range never becomes a hole.
func (a *Arena) unmapSlot(k int) error {
	_, err := unix.MmapPtr(-1, 0, a.slotAddr(k), uintptr(a.slotSize),
		unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED|mapNoReserve)
	return err
}

func (a *Arena) release() error {
	return unix.MunmapPtr(a.base, uintptr(int64(a.nslots)*a.slotSize))
}

func advise(p unsafe.Pointer, n int64, adv Advice) error {
	var advice int
	switch adv {
	case Normal:
		advice = unix.MADV_NORMAL
	case Random:
		advice = unix.MADV_RANDOM
	case Sequential:
		advice = unix.MADV_SEQUENTIAL
	case WillNeed:
		advice = unix.MADV_WILLNEED
	case DontNeed:
		advice = unix.MADV_DONTNEED
	default:
		return unix.EINVAL
	}
	return unix.Madvise(unsafe.Slice((*byte)(p), n), advice)
}
