//go:build unix

package arena

import (
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SpanViews reports whether MapSpan works here: on Unix, where a file can
// be mapped at a fixed address.
const SpanViews = true

// MapSpan is MapView for the part of the files a caller needs: laid end to
// end, files of slotSize bytes each, the bytes from lo in the first file to
// hi in the last. lo and hi must be multiples of the page size, with lo in
// [0, slotSize) and hi in (0, slotSize] (and lo < hi for one file). A
// range of a few bytes across two files of 1 GiB then takes two pages of
// address space, where MapView takes 2 GiB, which a 32-bit process cannot
// give in one range. The view's Bytes start at byte lo of the first file.
func MapSpan(files []*os.File, slotSize, lo, hi int64, writable bool) (*View, error) {
	page := int64(os.Getpagesize())
	last := len(files) - 1
	if last < 0 || lo < 0 || lo >= slotSize || hi <= 0 || hi > slotSize || lo%page != 0 || hi%page != 0 ||
		last == 0 && lo >= hi || int64(last) > (math.MaxInt-hi)/slotSize {
		return nil, fmt.Errorf("arena: span view of %d files of %d bytes from %d to %d: invalid range", len(files), slotSize, lo, hi)
	}
	size := int64(last)*slotSize + hi - lo
	base, err := unix.MmapPtr(-1, 0, nil, uintptr(size), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil, fmt.Errorf("arena: reserve a span view of %d bytes: %w", size, err)
	}
	nameReservation(base, uintptr(size))
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	for k, f := range files {
		from, to := int64(0), slotSize
		if k == 0 {
			from = lo
		}
		if k == last {
			to = hi
		}
		at := unsafe.Add(base, int64(k)*slotSize+from-lo)
		p, err := unix.MmapPtr(int(f.Fd()), from, at, uintptr(to-from), prot, unix.MAP_SHARED|unix.MAP_FIXED)
		if err == nil && p != at {
			err = unix.EINVAL // MAP_FIXED never moves a mapping; be sure
		}
		if err != nil && spanRefusedHook != nil {
			spanRefusedHook(at, uintptr(to-from))
		}
		if err != nil {
			return nil, errors.Join(&os.PathError{Op: "map", Path: f.Name(), Err: err}, releaseRefusedSpan(base, uintptr(size), at, uintptr(to-from), err))
		}
	}
	return &View{b: unsafe.Slice((*byte)(base), size)}, nil
}

// releaseRefusedSpan gives back the reservation of a span view of size
// bytes at base after the mapping of n bytes at at failed with the error
// refused. The kernel may have emptied those bytes before it refused (see
// refusedMap), and the hole may hold another owner's mapping since: they
// are unmapped only where ownHole says they are the view's; elsewhere
// they stay, a cost of n bytes of address space.
func releaseRefusedSpan(base unsafe.Pointer, size uintptr, at unsafe.Pointer, n uintptr, refused error) error {
	// Asked while the rest of the view's reservation still surrounds the
	// bytes: with it gone, a hole there would join the free space on
	// either side, where another owner's mapping may reach past them.
	own := ownHole(base, size, at, n, refused)
	head := uintptr(at) - uintptr(base)
	var err error
	if head > 0 {
		err = unix.MunmapPtr(base, head)
	}
	if tail := size - head - n; tail > 0 {
		err = errors.Join(err, unix.MunmapPtr(unsafe.Add(at, n), tail))
	}
	if own {
		err = errors.Join(err, unix.MunmapPtr(at, n))
	}
	return err
}

// spanRefusedHook, for tests, runs where MapSpan's mapping of n bytes at
// at was refused, to map something into the hole the kernel may have left
// there, as another thread could.
var spanRefusedHook func(at unsafe.Pointer, n uintptr)

// releaseSpan unmaps a view of MapSpan.
func releaseSpan(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b))); err != nil {
		return fmt.Errorf("arena: release a span view: %w", err)
	}
	return nil
}
