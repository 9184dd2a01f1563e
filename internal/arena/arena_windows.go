package arena

// Windows maps files at fixed slots with placeholders (from Windows 10
// version 1803, the reference's minimum for MapViewOfFile3): a placeholder
// is "a type of reserved memory region" that VirtualAlloc2 creates,
// VirtualFree splits, MapViewOfFile3 replaces with a view of exactly its
// base and size, and UnmapViewOfFile2 puts back in place of the view. The
// range thus stays reserved from Reserve to Release: between a view and the
// placeholder that replaces it, no other allocation can take the slot,
// which is what MAP_FIXED over PROT_NONE gives on Unix. Quotations below are
// from Microsoft's memoryapi.h reference
// (learn.microsoft.com/windows/win32/api/memoryapi/): VirtualAlloc2,
// VirtualFree, MapViewOfFile3, UnmapViewOfFile2, UnmapViewOfFile,
// CreateFileMappingW, FlushViewOfFile and PrefetchVirtualMemory.
//
// Older systems lack the three calls (and some, such as Wine 8, have them
// without placeholder support); there the Arena falls back to one mmap-go
// mapping per slot (perSlot), placed by the system, and is not contiguous
// (a.fixed is false), as on platforms that are neither Unix nor Windows.

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Placeholder flags, missing from golang.org/x/sys/windows, with the values
// memoryapi.h's reference gives them. MEM_RESERVE, MEM_RELEASE and the
// PAGE_ protections come from x/sys/windows (the same values: 0x2000,
// 0x8000, and 0x01, 0x02, 0x04 for PAGE_NOACCESS, PAGE_READONLY and
// PAGE_READWRITE).
const (
	// memReservePlaceholder (MEM_RESERVE_PLACEHOLDER), with MEM_RESERVE
	// and PAGE_NOACCESS, makes VirtualAlloc2 create a placeholder.
	memReservePlaceholder = 0x00040000
	// memReplacePlaceholder (MEM_REPLACE_PLACEHOLDER) makes MapViewOfFile3
	// map the view in place of a placeholder.
	memReplacePlaceholder = 0x00004000
	// memPreservePlaceholder (MEM_PRESERVE_PLACEHOLDER) makes
	// VirtualFree, with MEM_RELEASE, split a placeholder, and makes
	// UnmapViewOfFile2 leave a placeholder where the view was.
	memPreservePlaceholder = 0x00000002
)

// The placeholder calls are loaded at run time: x/sys/windows has no
// wrappers for them, and a static import would keep the program from
// starting on older Windows. The reference lists VirtualAlloc2 and
// MapViewOfFile3 under Kernel32.dll, UnmapViewOfFile2 under Kernelbase.dll;
// kernelbase.dll, which implements kernel32's memory functions, exports all
// three. NewLazySystemDLL loads it from the system directory only.
var (
	modkernelbase        = windows.NewLazySystemDLL("kernelbase.dll")
	procVirtualAlloc2    = modkernelbase.NewProc("VirtualAlloc2")
	procMapViewOfFile3   = modkernelbase.NewProc("MapViewOfFile3")
	procUnmapViewOfFile2 = modkernelbase.NewProc("UnmapViewOfFile2")

	// PrefetchVirtualMemory dates from Windows 8: it too may be missing.
	modkernel32               = windows.NewLazySystemDLL("kernel32.dll")
	procPrefetchVirtualMemory = modkernel32.NewProc("PrefetchVirtualMemory")
)

// placeholderErr returns, once for the process, why placeholders cannot be
// used (a call the system does not have, or the error of probePlaceholders),
// or nil where they can.
var placeholderErr = sync.OnceValue(func() error {
	for _, p := range []*windows.LazyProc{procVirtualAlloc2, procMapViewOfFile3, procUnmapViewOfFile2} {
		if err := p.Find(); err != nil {
			return err
		}
	}
	return probePlaceholders()
})

// probePlaceholders runs, on one allocation granule, the cycle the Arena
// relies on: create a placeholder, map a view in its place, put the
// placeholder back, free it. Having the calls is not enough: Wine 8 exports
// all three, but its VirtualAlloc2 rejects MEM_RESERVE_PLACEHOLDER with
// ERROR_INVALID_PARAMETER, and there the Arena must fall back as on old
// Windows rather than fail every Reserve. Probing once, apart from any
// Arena, also keeps a real failure of a later Reserve (no address space
// left) an error instead of a silent fallback.
func probePlaceholders() error {
	const size = 64 << 10 // the allocation granularity
	base, _, err := procVirtualAlloc2.Call(uintptr(windows.CurrentProcess()), 0, size,
		windows.MEM_RESERVE|memReservePlaceholder, windows.PAGE_NOACCESS, 0, 0)
	if base == 0 {
		return callError("VirtualAlloc2", err)
	}
	// A section backed by the paging file: no file needed.
	section, err := windows.CreateFileMapping(windows.InvalidHandle, nil, windows.PAGE_READWRITE, 0, size, nil)
	if section == 0 {
		windows.VirtualFree(base, 0, windows.MEM_RELEASE)
		return os.NewSyscallError("CreateFileMapping", err)
	}
	defer windows.CloseHandle(section)
	p, err := mapViewOfFile3(section, base, size, windows.PAGE_READWRITE)
	if err != nil {
		windows.VirtualFree(base, 0, windows.MEM_RELEASE)
		return err
	}
	if p != base {
		unmapViewOfFile2(p, 0)
		windows.VirtualFree(base, 0, windows.MEM_RELEASE)
		return os.NewSyscallError("MapViewOfFile3", windows.ERROR_INVALID_ADDRESS)
	}
	if err := unmapViewOfFile2(base, memPreservePlaceholder); err != nil {
		unmapViewOfFile2(base, 0)
		return err
	}
	return os.NewSyscallError("VirtualFree", windows.VirtualFree(base, 0, windows.MEM_RELEASE))
}

// platArena is the state Windows keeps besides the reservation: which
// slots hold a view (the others hold a placeholder) where a.fixed, and the
// per-slot mappings where the placeholder calls are missing.
type platArena struct {
	mapped []bool  // a.fixed: mapped[k] reports that slot k holds a view
	slots  perSlot // !a.fixed: the fallback's mappings
}

// reserve creates one placeholder over the whole range and splits it into
// one placeholder per slot, because a view must replace a placeholder of
// exactly its own base and size (MapViewOfFile3: "When you replace a
// placeholder, BaseAddress and ViewSize must exactly match those of the
// placeholder"). "To split a placeholder into two placeholders, specify
// MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER" (VirtualFree): each call cuts the
// first slot off the rest, so nslots-1 calls leave nslots placeholders.
// Where the system cannot do placeholders (placeholderErr), reserve sets up
// the per-slot fallback instead and leaves a.fixed false.
func (a *Arena) reserve() error {
	if placeholderErr() != nil {
		a.plat.slots.init(a.nslots)
		return nil
	}
	size := uintptr(int64(a.nslots) * a.slotSize)
	// "To create a placeholder, call VirtualAlloc2 with MEM_RESERVE |
	// MEM_RESERVE_PLACEHOLDER and PageProtection set to PAGE_NOACCESS."
	// A nil BaseAddress lets the system choose; its choice is aligned to the
	// allocation granularity (64 KiB), and Reserve's slotSize is a multiple
	// of that, so every slot is aligned too. No extended parameters.
	base, _, err := procVirtualAlloc2.Call(
		uintptr(windows.CurrentProcess()), // Process
		0,                                 // BaseAddress
		size,                              // Size
		windows.MEM_RESERVE|memReservePlaceholder, // AllocationType
		windows.PAGE_NOACCESS,                     // PageProtection
		0,                                         // ExtendedParameters
		0,                                         // ParameterCount
	)
	if base == 0 {
		return callError("VirtualAlloc2", err)
	}
	for k := range a.nslots - 1 {
		addr := base + uintptr(k)*uintptr(a.slotSize)
		if err := windows.VirtualFree(addr, uintptr(a.slotSize), windows.MEM_RELEASE|memPreservePlaceholder); err != nil {
			// Slots 0 to k-1 are placeholders of their own, and the
			// rest of the range, from slot k, is one more: free each.
			for j := range k + 1 {
				windows.VirtualFree(base+uintptr(j)*uintptr(a.slotSize), 0, windows.MEM_RELEASE)
			}
			return os.NewSyscallError("VirtualFree", err)
		}
	}
	a.base, a.fixed = pointer(base), true
	a.plat.mapped = make([]bool, a.nslots)
	return nil
}

// mapSlot maps the first slotSize bytes of f, shared, in place of slot k's
// placeholder. A view already there is first put back to a placeholder,
// after the file's section is made, so that a file that cannot be mapped
// leaves the old view alone; the slot stays reserved throughout. The view
// keeps the section, and the section the file, open: "Mapped views of a
// file mapping object maintain internal references to the object"
// (CreateFileMappingW), and "Although an application may close the file
// handle used to create a file mapping object, the system holds the
// corresponding file open until the last view of the file is unmapped"
// (UnmapViewOfFile). So the section handle is closed here, and f may be
// closed after Map, as on Unix.
func (a *Arena) mapSlot(k int, f *os.File, writable bool) (unsafe.Pointer, error) {
	if !a.fixed {
		return a.plat.slots.mapAt(k, f, a.slotSize, writable)
	}
	prot := uint32(windows.PAGE_READONLY)
	if writable {
		prot = windows.PAGE_READWRITE
	}
	// A section of slotSize bytes, the first slotSize bytes of the file
	// (Map requires f to be at least that long).
	size := uint64(a.slotSize)
	section, err := windows.CreateFileMapping(windows.Handle(f.Fd()), nil, prot, uint32(size>>32), uint32(size), nil)
	runtime.KeepAlive(f) // f's handle is in use until CreateFileMapping returns
	if section == 0 {
		return nil, os.NewSyscallError("CreateFileMapping", err)
	}
	defer windows.CloseHandle(section)
	// Only now, with the file's section in hand, give up the old view.
	if err := a.unmapSlot(k); err != nil {
		return nil, err
	}
	addr := uintptr(a.slotAddr(k))
	p, err := mapViewOfFile3(section, addr, uintptr(a.slotSize), prot)
	if err != nil {
		return nil, err
	}
	if p != addr { // a replacing view cannot move; be sure
		unmapViewOfFile2(p, 0)
		return nil, os.NewSyscallError("MapViewOfFile3", windows.ERROR_INVALID_ADDRESS)
	}
	a.plat.mapped[k] = true
	return a.slotAddr(k), nil
}

// unmapSlot puts slot k's view, if it holds one, back to a placeholder:
// MEM_PRESERVE_PLACEHOLDER "Unmaps a mapped view back to a placeholder
// (after you've replaced a placeholder with a mapped view using
// MapViewOfFile3 or MapViewOfFile3FromApp)" (UnmapViewOfFile2). The slot
// is then inaccessible again and still reserved.
func (a *Arena) unmapSlot(k int) error {
	if !a.fixed {
		return a.plat.slots.unmapAt(k)
	}
	if !a.plat.mapped[k] {
		return nil
	}
	if err := unmapViewOfFile2(uintptr(a.slotAddr(k)), memPreservePlaceholder); err != nil {
		return err
	}
	a.plat.mapped[k] = false
	return nil
}

// release gives every slot back: a view is unmapped without
// MEM_PRESERVE_PLACEHOLDER, which frees its range outright, and a
// placeholder is freed with MEM_RELEASE. The split placeholders are separate
// regions, each freed by its own call with size 0 (VirtualFree: with
// MEM_RELEASE "dwSize must be 0 (zero), and lpAddress must point to the base
// address returned by the VirtualAlloc function when the region is
// reserved").
func (a *Arena) release() error {
	if !a.fixed {
		return a.plat.slots.unmapAll()
	}
	var err error
	for k := range a.nslots {
		addr := uintptr(a.slotAddr(k))
		if a.plat.mapped[k] {
			err = errors.Join(err, unmapViewOfFile2(addr, 0))
		} else {
			err = errors.Join(err, os.NewSyscallError("VirtualFree", windows.VirtualFree(addr, 0, windows.MEM_RELEASE)))
		}
	}
	a.plat.mapped = nil
	return err
}

// flushSlot writes slot k's dirty pages to the file with FlushViewOfFile.
// The file's own buffers are the caller's fsync's to flush (FlushViewOfFile:
// "To flush all the dirty pages plus the metadata for the file and ensure
// that they are physically written to disk, call FlushViewOfFile and then
// call the FlushFileBuffers function"; f.Sync is FlushFileBuffers). The
// fallback's mmap-go Flush does both.
func (a *Arena) flushSlot(k int) error {
	if !a.fixed {
		return a.plat.slots.flushAt(k)
	}
	if !a.plat.mapped[k] {
		return nil
	}
	return os.NewSyscallError("FlushViewOfFile", windows.FlushViewOfFile(uintptr(a.slotAddr(k)), uintptr(a.slotSize)))
}

// advise passes WillNeed on as PrefetchVirtualMemory, which reads the range
// in "using large, concurrent I/O requests where possible", and does
// nothing for the other hints, which Windows has no call for; nor for
// WillNeed before Windows 8, which lacks PrefetchVirtualMemory. The hints
// only change speed, never results.
func advise(p unsafe.Pointer, n int64, adv Advice) error {
	if adv != WillNeed || procPrefetchVirtualMemory.Find() != nil {
		return nil
	}
	// WIN32_MEMORY_RANGE_ENTRY: PVOID VirtualAddress; SIZE_T NumberOfBytes.
	entry := struct {
		addr unsafe.Pointer
		n    uintptr
	}{p, uintptr(n)}
	ok, _, err := procPrefetchVirtualMemory.Call(
		uintptr(windows.CurrentProcess()), // hProcess
		1,                                 // NumberOfEntries
		uintptr(unsafe.Pointer(&entry)),   // VirtualAddresses
		0,                                 // Flags: "Reserved. Must be 0."
	)
	if ok == 0 {
		return callError("PrefetchVirtualMemory", err)
	}
	return nil
}

// mapViewOfFile3 maps the first size bytes of section with page
// protection prot in place of the placeholder of the same size at addr,
// and returns the view's address. MapViewOfFile3's PageProtection takes
// PAGE_ constants ("The desired page protection"), not MapViewOfFile's
// FILE_MAP_ access rights.
func mapViewOfFile3(section windows.Handle, addr, size uintptr, prot uint32) (uintptr, error) {
	process := uintptr(windows.CurrentProcess())
	var p uintptr
	var err error
	if unsafe.Sizeof(uintptr(0)) == 8 {
		p, _, err = procMapViewOfFile3.Call(
			uintptr(section),      // FileMapping
			process,               // Process
			addr,                  // BaseAddress
			0,                     // Offset (ULONG64)
			size,                  // ViewSize
			memReplacePlaceholder, // AllocationType
			uintptr(prot),         // PageProtection
			0,                     // ExtendedParameters
			0,                     // ParameterCount
		)
	} else {
		// On windows/386 the ULONG64 Offset takes two 32-bit argument
		// slots, low half first.
		p, _, err = procMapViewOfFile3.Call(
			uintptr(section), process, addr,
			0, 0, // Offset: low, high
			size, memReplacePlaceholder, uintptr(prot), 0, 0,
		)
	}
	if p == 0 {
		return 0, callError("MapViewOfFile3", err)
	}
	return p, nil
}

// unmapViewOfFile2 unmaps the view at addr from this process, with
// UnmapFlags flags: memPreservePlaceholder to leave a placeholder in its
// place, 0 to free the range.
func unmapViewOfFile2(addr uintptr, flags uint32) error {
	ok, _, err := procUnmapViewOfFile2.Call(uintptr(windows.CurrentProcess()), addr, uintptr(flags))
	if ok == 0 {
		return callError("UnmapViewOfFile2", err)
	}
	return nil
}

// callError names the call in the error that LazyProc.Call returned from a
// call that failed; should GetLastError have said nothing, it reports
// EINVAL, as x/sys/windows' own wrappers do.
func callError(name string, err error) error {
	if errno, ok := err.(syscall.Errno); ok && errno == 0 {
		err = syscall.EINVAL
	}
	return os.NewSyscallError(name, err)
}

// pointer turns an address the system returned into a pointer. The memory
// is not Go's, so the garbage collector never moves or frees it; reading
// the address through an unsafe.Pointer, rather than converting it,
// keeps go vet's unsafeptr check, which cannot know that, quiet.
func pointer(addr uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}

// unmapRun is not done here: each view goes back to its placeholder on
// its own (see UnmapSlots and unmapSlot).
func (a *Arena) unmapRun(lo, n int) error { return errors.ErrUnsupported }

// dupFile returns a handle of its own on f's file, with f's access, for a
// per-slot mapping to flush through after f is closed.
func dupFile(f *os.File) (*os.File, error) {
	p := windows.CurrentProcess()
	var h windows.Handle
	err := windows.DuplicateHandle(p, windows.Handle(f.Fd()), p, &h, 0, false, windows.DUPLICATE_SAME_ACCESS)
	runtime.KeepAlive(f) // f's handle is in use until DuplicateHandle returns
	if err != nil {
		return nil, &os.PathError{Op: "DuplicateHandle", Path: f.Name(), Err: err}
	}
	return os.NewFile(uintptr(h), f.Name()), nil
}
