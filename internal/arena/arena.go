// Package arena reserves one range of address space and maps files at fixed
// places in it, so that a dataset of many chunk files appears as one
// contiguous range whose parts can be mapped and unmapped one at a time.
//
//	a, err := arena.Reserve(64, 64<<10) // 64 slots of 64 KiB, inaccessible
//	if err != nil { ... }
//	p, err := a.Map(3, f, true)         // f's first 64 KiB at slot 3, shared
//	...
//	err = a.Unmap(3)                    // slot 3 is inaccessible again
//	err = a.Release()                   // gives the whole range back
//
// A slot is always either a file mapping or an inaccessible reservation:
// Map and Unmap replace one with the other without ever freeing the range
// (mmap with MAP_FIXED on Unix; on Windows, placeholders that a view
// replaces and that return when it is unmapped), so there is no instant at
// which the range is free for the kernel to hand to another mapping. An
// access to an unmapped slot faults (recoverably under
// runtime/debug.SetPanicOnFault) and never reaches memory that belongs to
// anything else. The one exception is a process over Linux's limit of
// mappings, where the kernel refuses even that replacement: the slot is
// then unmapped and reserved again, and if another mapping took its range
// in between, the slot is lost and the Arena leaves it alone for good (see
// ErrSlotLost).
//
// Where a platform cannot map at a fixed address (Windows before 10 version
// 1803, which lacks placeholders, and systems that are neither Unix nor
// Windows) the Arena maps each slot where the system chooses and
// [Arena.Contiguous] reports false: slots then work one at a time, but two
// adjacent slots are not adjacent in memory.
//
// An Arena is not safe for concurrent use: its owner serialises Map, Unmap
// and Release. The mapped memory itself may be accessed by any goroutine.
// Errors are *[fs.PathError] values naming the file where one is involved,
// whose Err is the operating system's error or [errors.ErrUnsupported].
package arena

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"unsafe"
)

// Advice is an access-pattern hint for mapped memory (madvise(2)).
type Advice int

const (
	// Normal is the kernel's default read-ahead.
	Normal Advice = iota
	// Random turns read-ahead off.
	Random
	// Sequential asks for aggressive read-ahead and early reclaim.
	Sequential
	// WillNeed asks the kernel to read the range in ahead of use.
	WillNeed
	// DontNeed lets the kernel drop the range's pages from this process;
	// the data stays in the file and in the page cache.
	DontNeed
)

// Arena is a reserved range of nslots slots of slotSize bytes each.
type Arena struct {
	base     unsafe.Pointer // the reservation, or nil where !fixed
	slotSize int64
	nslots   int
	fixed    bool
	// lost holds the slots given up because a mapping of another owner
	// may lie in their range (see ErrSlotLost); nil while there are none.
	lost map[int]struct{}
	//lint:ignore U1000 empty and unused on Unix; the other platforms keep their state here
	plat platArena // what the platform needs besides
}

// Reserve reserves nslots slots of slotSize bytes, all inaccessible. slotSize
// must be a positive multiple of the system's allocation granularity (64 KiB
// covers every platform Go runs on); nslots must be positive, and their
// product must fit the address space.
func Reserve(nslots int, slotSize int64) (*Arena, error) {
	what := fmt.Sprintf("arena: reserve %d slots of %d bytes", nslots, slotSize)
	if nslots == 1 {
		what = fmt.Sprintf("arena: reserve 1 slot of %d bytes", slotSize)
	}
	if nslots <= 0 || slotSize <= 0 || slotSize%(64<<10) != 0 {
		return nil, fmt.Errorf("%s: invalid size", what)
	}
	hi, lo := bits.Mul64(uint64(nslots), uint64(slotSize))
	if hi != 0 || lo > uint64(^uintptr(0)>>1) {
		return nil, fmt.Errorf("%s: does not fit the address space", what)
	}
	a := &Arena{slotSize: slotSize, nslots: nslots}
	if err := a.reserve(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return a, nil
}

// ErrSlotLost is the error of Unmap when it emptied a slot but could not
// put its reservation back (Linux, over its limit of mappings: see
// unmapSlot), of Map when the kernel emptied the slot before it refused the
// mapping and the reservation could not be put back (see refusedMap), and
// of Map on such a slot afterwards. The range may then hold
// a mapping of another owner, so the Arena never maps there again and
// Release leaves it alone; the rest of the Arena works as before.
var ErrSlotLost = errors.New("arena: slot lost to the system")

// Lost reports whether slot k was lost (see ErrSlotLost).
func (a *Arena) Lost(k int) bool {
	_, ok := a.lost[k]
	return ok
}

// Slots returns the number of slots.
func (a *Arena) Slots() int { return a.nslots }

// SlotSize returns the size of each slot in bytes.
func (a *Arena) SlotSize() int64 { return a.slotSize }

// Base returns the address of slot 0 where the arena is contiguous, and nil
// where it is not.
func (a *Arena) Base() unsafe.Pointer {
	if !a.fixed {
		return nil
	}
	return a.base
}

// Contiguous reports whether slot k+1 starts where slot k ends, so that
// mapped neighbours form one range of memory.
func (a *Arena) Contiguous() bool { return a.fixed }

// slotAddr returns the address of slot k in a fixed arena.
func (a *Arena) slotAddr(k int) unsafe.Pointer {
	return unsafe.Add(a.base, int64(k)*a.slotSize)
}

// Map maps the first SlotSize bytes of f, shared, at slot k, replacing the
// reservation (or the mapping) there, and returns the slot's address. f
// must be at least SlotSize bytes long and opened for writing if writable.
// Where the arena is contiguous, f may be closed after Map returns: the
// mapping keeps the file. Where it is not (perSlot), f must stay open
// until the slot is unmapped: mmap-go flushes a writable mapping through
// f's handle on Windows (FlushFileBuffers), at Flush and before Unmap,
// whose unmapping a closed handle makes fail.
func (a *Arena) Map(k int, f *os.File, writable bool) (unsafe.Pointer, error) {
	if k < 0 || k >= a.nslots {
		return nil, &os.PathError{Op: "map", Path: f.Name(), Err: fmt.Errorf("slot %d of %d", k, a.nslots)}
	}
	if a.Lost(k) {
		return nil, &os.PathError{Op: "map", Path: f.Name(), Err: fmt.Errorf("slot %d: %w", k, ErrSlotLost)}
	}
	p, err := a.mapSlot(k, f, writable)
	if err != nil {
		if errors.Is(err, ErrSlotLost) {
			if a.lost == nil {
				a.lost = make(map[int]struct{})
			}
			a.lost[k] = struct{}{}
		}
		return nil, &os.PathError{Op: "map", Path: f.Name(), Err: err}
	}
	return p, nil
}

// Unmap makes slot k inaccessible again. Unmapping a slot that holds no
// mapping does nothing. After an error matching ErrSlotLost the slot's
// mapping is gone, and so is the slot.
func (a *Arena) Unmap(k int) error {
	if k < 0 || k >= a.nslots {
		return fmt.Errorf("arena: unmap slot %d of %d", k, a.nslots)
	}
	if a.Lost(k) {
		return nil
	}
	if err := a.unmapSlot(k); err != nil {
		if errors.Is(err, ErrSlotLost) {
			if a.lost == nil {
				a.lost = make(map[int]struct{})
			}
			a.lost[k] = struct{}{}
		}
		return fmt.Errorf("arena: unmap slot %d: %w", k, err)
	}
	return nil
}

// UnmapSlots makes every slot of ks inaccessible again, as Unmap does, and
// calls done with each slot and Unmap's error for it. Where the platform
// can (Unix), each run of consecutive slots in ks is emptied by one
// replacement of its whole range: the kernel then flushes the processors'
// TLBs once for the run, where one Unmap per slot flushes them once per
// slot, which costs each time a call on every other processor that ran
// the process (hundreds of microseconds on a virtual machine). A run
// whose replacement fails, and every slot on other platforms, is emptied
// one slot at a time by Unmap. ks is sorted in place and must not repeat
// a slot.
func (a *Arena) UnmapSlots(ks []int, done func(k int, err error)) {
	slices.Sort(ks)
	for i := 0; i < len(ks); {
		j := i + 1
		if a.fixed && ks[i] >= 0 && !a.Lost(ks[i]) {
			for j < len(ks) && ks[j] == ks[j-1]+1 && ks[j] < a.nslots && !a.Lost(ks[j]) {
				j++
			}
		}
		if j-i > 1 && a.unmapRun(ks[i], j-i) == nil {
			for _, k := range ks[i:j] {
				done(k, nil)
			}
		} else {
			for _, k := range ks[i:j] {
				done(k, a.Unmap(k))
			}
		}
		i = j
	}
}

// Flush writes the stores made through slot k back to its file where the
// platform needs that before an fsync of the file covers them (not Linux,
// whose page cache tracks them), and returns the error of doing so. It
// does not fsync the file.
func (a *Arena) Flush(k int) error {
	if k < 0 || k >= a.nslots {
		return fmt.Errorf("arena: flush slot %d of %d", k, a.nslots)
	}
	if err := a.flushSlot(k); err != nil {
		return fmt.Errorf("arena: flush slot %d: %w", k, err)
	}
	return nil
}

// Release gives the whole range back to the system, unmapping every slot.
// Nothing may touch the arena's memory afterwards that is not fault
// guarded, and even a guarded access may then read memory of another
// owner: Release only what no goroutine can still reach. The Arena is
// unusable after Release; a second call does nothing.
func (a *Arena) Release() error {
	if a.nslots == 0 {
		return nil
	}
	err := a.release()
	a.nslots = 0
	if err != nil {
		return fmt.Errorf("arena: release: %w", err)
	}
	return nil
}

// Advise passes an access-pattern hint for the n mapped bytes at p to the
// kernel. p must be page-aligned. Where the platform has no madvise it does
// nothing and returns nil; on Windows only WillNeed does something
// (PrefetchVirtualMemory).
func Advise(p unsafe.Pointer, n int64, adv Advice) error {
	if n <= 0 {
		return nil
	}
	if err := advise(p, n, adv); err != nil {
		return fmt.Errorf("arena: advise %d bytes: %w", n, err)
	}
	return nil
}

// View is a private, contiguous mapping of several files one after another,
// for a caller that needs their bytes side by side where the arena cannot
// place them so (their slots wrap around its end).
type View struct {
	a *Arena // the reservation of MapView; nil for one of MapSpan
	b []byte
}

// MapView maps the first slotSize bytes of each file, in order, into one
// fresh range of memory. It returns an error matching
// [errors.ErrUnsupported] for several files where the platform cannot map
// at fixed addresses.
func MapView(files []*os.File, slotSize int64, writable bool) (*View, error) {
	a, err := Reserve(len(files), slotSize)
	if err != nil {
		return nil, err
	}
	if !a.fixed {
		// One file is side by side with nothing: the mapping the
		// system places is a view of it, and a Batch relies on that for
		// a single chunk it cannot hold in its slot.
		if len(files) != 1 {
			return nil, errors.Join(fmt.Errorf("arena: contiguous view of %d files: %w", len(files), errors.ErrUnsupported), a.Release())
		}
		p, err := a.Map(0, files[0], writable)
		if err != nil {
			return nil, errors.Join(err, a.Release())
		}
		return &View{a: a, b: unsafe.Slice((*byte)(p), slotSize)}, nil
	}
	for k, f := range files {
		if _, err := a.Map(k, f, writable); err != nil {
			return nil, errors.Join(err, a.Release())
		}
	}
	return &View{a: a, b: unsafe.Slice((*byte)(a.base), int64(len(files))*slotSize)}, nil
}

// Bytes returns the view's memory, valid until Release.
func (v *View) Bytes() []byte { return v.b }

// Flush is [Arena.Flush] for every file of the view.
func (v *View) Flush() error {
	if v.a == nil {
		return flushSpan(v.b)
	}
	var err error
	for k := range v.a.nslots {
		err = errors.Join(err, v.a.Flush(k))
	}
	return err
}

// Release unmaps the view.
func (v *View) Release() error {
	b := v.b
	v.b = nil
	if v.a == nil {
		return releaseSpan(b)
	}
	return v.a.Release()
}
