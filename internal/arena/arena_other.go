//go:build !unix

package arena

import (
	"errors"
	"os"
	"unsafe"

	mmap "github.com/edsrzf/mmap-go"
)

// platArena holds one mmap-go mapping per mapped slot: without a way to map
// at a fixed address, each slot lives where the system puts it, and the
// Arena is not contiguous.
type platArena struct {
	views []mmap.MMap
}

func (a *Arena) reserve() error {
	a.plat.views = make([]mmap.MMap, a.nslots)
	return nil
}

func (a *Arena) mapSlot(k int, f *os.File, writable bool) (unsafe.Pointer, error) {
	if err := a.unmapSlot(k); err != nil {
		return nil, err
	}
	prot := mmap.RDONLY
	if writable {
		prot = mmap.RDWR
	}
	m, err := mmap.MapRegion(f, int(a.slotSize), prot, 0, 0)
	if err != nil {
		return nil, err
	}
	a.plat.views[k] = m
	return unsafe.Pointer(unsafe.SliceData(m)), nil
}

func (a *Arena) unmapSlot(k int) error {
	m := a.plat.views[k]
	if m == nil {
		return nil
	}
	a.plat.views[k] = nil
	return m.Unmap()
}

func (a *Arena) release() error {
	var err error
	for k := range a.plat.views {
		err = errors.Join(err, a.unmapSlot(k))
	}
	return err
}

// advise does nothing: the platform has no madvise(2), and the hints only
// change speed, never results.
func advise(p unsafe.Pointer, n int64, adv Advice) error { return nil }

// flushSlot flushes the slot's view (FlushViewOfFile and FlushFileBuffers
// on Windows, through mmap-go).
func (a *Arena) flushSlot(k int) error {
	if m := a.plat.views[k]; m != nil {
		return m.Flush()
	}
	return nil
}
