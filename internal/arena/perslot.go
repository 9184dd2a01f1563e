//go:build !unix

package arena

import (
	"errors"
	"os"
	"unsafe"

	mmap "github.com/edsrzf/mmap-go"
)

// perSlot is the arena of a system that cannot map a file at an address of
// the caller's choosing: one mmap-go mapping per mapped slot, each where the
// system puts it, so that the Arena is not contiguous. arena_other.go uses
// it always, arena_windows.go on Windows older than the placeholder calls.
type perSlot struct {
	views []mmap.MMap // views[k] maps slot k, or is nil
	files []*os.File  // files[k] is views[k]'s own handle on its file, or nil
}

// init makes room for n slots, none mapped.
func (s *perSlot) init(n int) {
	s.views = make([]mmap.MMap, n)
	s.files = make([]*os.File, n)
}

// mapAt maps the first size bytes of f, shared, as slot k, unmapping the
// slot's earlier mapping first, and returns the new mapping's address.
func (s *perSlot) mapAt(k int, f *os.File, size int64, writable bool) (unsafe.Pointer, error) {
	if err := s.unmapAt(k); err != nil {
		return nil, err
	}
	prot := mmap.RDONLY
	if writable {
		prot = mmap.RDWR
	}
	// mmap-go on Windows keeps f's handle and flushes through it
	// (FlushFileBuffers) at every Flush and before every Unmap, returning
	// before UnmapViewOfFile if that fails; but Map lets the caller close f
	// once mapped. The mapping gets a handle of its own, closed after it.
	own, err := dupFile(f)
	if err != nil {
		return nil, err
	}
	mf := f
	if own != nil {
		mf = own
	}
	m, err := mmap.MapRegion(mf, int(size), prot, 0, 0)
	if err != nil {
		if own != nil {
			err = errors.Join(err, own.Close())
		}
		return nil, err
	}
	s.views[k], s.files[k] = m, own
	return unsafe.Pointer(unsafe.SliceData(m)), nil
}

// unmapAt unmaps slot k; a slot not mapped is left alone.
func (s *perSlot) unmapAt(k int) error {
	m := s.views[k]
	if m == nil {
		return nil
	}
	own := s.files[k]
	s.views[k], s.files[k] = nil, nil
	err := m.Unmap()
	if own != nil {
		err = errors.Join(err, own.Close())
	}
	return err
}

// unmapAll unmaps every mapped slot and returns the errors of doing so.
func (s *perSlot) unmapAll() error {
	var err error
	for k := range s.views {
		err = errors.Join(err, s.unmapAt(k))
	}
	return err
}

// flushAt flushes slot k's mapping, if it has one (FlushViewOfFile and
// FlushFileBuffers on Windows, through mmap-go).
func (s *perSlot) flushAt(k int) error {
	if m := s.views[k]; m != nil {
		return m.Flush()
	}
	return nil
}
