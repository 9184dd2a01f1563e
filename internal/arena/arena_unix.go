//go:build unix

package arena

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// platArena is empty on Unix: the reservation is all there is.
//
//lint:ignore U1000 the type exists for the field of Arena that other platforms use
type platArena struct{}

// hugeAlign is the size of the largest page-table entry that maps file
// pages (a PMD: 2 MiB on amd64, and on arm64 with 4 KiB pages), and so the
// most a slot's address needs to be aligned to.
const hugeAlign = 2 << 20

// alignOf returns what the base of an arena of slots of slotSize bytes is
// aligned to: the slot size up to hugeAlign, so that every slot starts as
// aligned as its size allows.
func alignOf(slotSize int64) int64 { return min(slotSize, hugeAlign) }

// reserve maps the whole range inaccessible and anonymous. PROT_NONE pages
// are not committed memory, and MAP_NORESERVE (where it exists) keeps the
// range out of overcommit accounting (mmap(2)).
//
// The range starts at a multiple of alignOf(slotSize): it is reserved with
// a margin, which is then trimmed. Where a chunk's page cache sits in 2 MiB
// folios (Linux reads and writes files in large folios), the kernel maps
// each with one page-table entry only at a 2 MiB-aligned address, and
// random reads over memory mapped that way miss the TLB far less often
// (12 against 15 ns per cold 8-byte read over 2 GiB on the machine of the
// README's figures). The kernel aligns large anonymous mappings itself
// only in some configurations, so the arena does not rely on it.
func (a *Arena) reserve() error {
	size := uintptr(int64(a.nslots) * a.slotSize)
	page := uintptr(os.Getpagesize())
	al := max(uintptr(alignOf(a.slotSize)), page)
	extra := al - page
	if size > ^uintptr(0)>>1-extra {
		extra = 0 // no room for the margin; the range is correct unaligned
	}
	p, err := unix.MmapPtr(-1, 0, nil, size+extra,
		unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
	if err != nil && extra > 0 {
		// Too little address space for the margin (a 32-bit process):
		// the range unaligned is still correct, only slower.
		extra = 0
		p, err = unix.MmapPtr(-1, 0, nil, size,
			unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
	}
	if err != nil {
		return err
	}
	if extra > 0 {
		head := (al - uintptr(p)%al) % al
		// The margin outside the aligned range goes back at once. It was
		// never touched, and unmapping the end of a mapping needs no
		// memory, so these calls do not fail; if one did, the pages
		// would only stay reserved and inaccessible.
		if head > 0 {
			_ = unix.MunmapPtr(p, head)
		}
		if tail := extra - head; tail > 0 {
			_ = unix.MunmapPtr(unsafe.Add(p, head+size), tail)
		}
		p = unsafe.Add(p, head)
	}
	nameReservation(p, size)
	a.base, a.fixed = p, true
	return nil
}

// mapSlot maps f over slot k with MAP_FIXED, which replaces what was there
// atomically (mmap(2): "If the memory region specified by addr and length
// overlaps pages of any existing mapping(s), then the overlapped part of the
// existing mapping(s) will be discarded").
func (a *Arena) mapSlot(k int, f *os.File, writable bool) (unsafe.Pointer, error) {
	if refused(k, false) {
		return nil, a.refusedByTest(k)
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	p, err := unix.MmapPtr(int(f.Fd()), 0, a.slotAddr(k), uintptr(a.slotSize), prot, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		return nil, a.refusedMap(k, err)
	}
	if p != a.slotAddr(k) { // MAP_FIXED never moves a mapping; be sure
		unix.MunmapPtr(p, uintptr(a.slotSize))
		return nil, unix.EINVAL
	}
	return p, nil
}

// unmapSlot puts an inaccessible anonymous reservation over slot k, again
// with MAP_FIXED, so the range never becomes a hole. Where the system
// refuses even that for want of mappings, overLimit takes over.
func (a *Arena) unmapSlot(k int) error {
	var err error
	if refused(k, true) {
		err = unix.ENOMEM
	} else {
		_, err = reserveAt(a.slotAddr(k), uintptr(a.slotSize), unix.MAP_FIXED)
	}
	if err != nil && errors.Is(err, unix.ENOMEM) {
		return a.overLimit(k, err)
	}
	return err
}

// unmapRun puts one inaccessible reservation over the n slots from lo, as
// unmapSlot does over one (see UnmapSlots). Where it fails (for want of
// mappings, as unmapSlot's replacement may), or a test refuses emptying
// one of the slots, the caller empties them one at a time, as it would
// have without the run.
func (a *Arena) unmapRun(lo, n int) error {
	for k := lo; k < lo+n; k++ {
		if refused(k, true) {
			return unix.ENOMEM
		}
	}
	_, err := reserveAt(a.slotAddr(lo), uintptr(int64(n)*a.slotSize), unix.MAP_FIXED)
	return err
}

// reserveAt maps an inaccessible anonymous reservation of n bytes at p,
// with flag saying how (MAP_FIXED, or MAP_FIXED_NOREPLACE where it exists).
func reserveAt(p unsafe.Pointer, n uintptr, flag int) (unsafe.Pointer, error) {
	q, err := unix.MmapPtr(-1, 0, p, n, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|flag|mapNoReserve)
	if err == nil && q == p {
		nameReservation(q, n)
	}
	return q, err
}

// release unmaps the range, around the slots lost (see ErrSlotLost), whose
// ranges may hold mappings of other owners.
func (a *Arena) release() error {
	var err error
	from := 0
	for k := 0; k <= a.nslots; k++ {
		if k < a.nslots && !a.Lost(k) {
			continue
		}
		if k > from {
			err = errors.Join(err, unix.MunmapPtr(a.slotAddr(from), uintptr(int64(k-from)*a.slotSize)))
		}
		from = k + 1
	}
	return err
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
