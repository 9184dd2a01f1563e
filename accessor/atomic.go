package accessor

// This file holds the atomics: sync/atomic operations on words of mapped
// memory, pinned for the duration of one operation and fault guarded. It is
// the only file of package accessor that imports unsafe (see word32 and
// word64).

import (
	"fmt"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// LoadUint32 atomically loads the uint32 at offset off, in native byte
// order. The offset must be a multiple of 4, else the error matches
// [chunkmap.ErrUnaligned], and the word must lie within [Start, Size), else
// it matches [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) LoadUint32(off int64) (uint32, error) {
	const op = "load uint32"
	var p chunkmap.Pinned
	w, err := v.pin32(op, off, false, &p)
	if err != nil {
		return 0, err
	}
	x, f := load32(w)
	p.Release()
	if f.hit {
		return 0, v.faultErr(op, off, f)
	}
	return x, nil
}

// StoreUint32 atomically stores x at offset off, in native byte order. The
// offset must be a multiple of 4 and the word must lie within [Start, Size):
// atomics never extend Size. On a read-only Manager it returns an error
// matching [chunkmap.ErrReadOnly].
func (v *ViewAccessor) StoreUint32(off int64, x uint32) error {
	const op = "store uint32"
	var p chunkmap.Pinned
	w, err := v.pin32(op, off, true, &p)
	if err != nil {
		return err
	}
	f := store32(w, x)
	p.Release()
	if f.hit {
		return v.faultErr(op, off, f)
	}
	return nil
}

// AddUint32 atomically adds delta to the uint32 at offset off, in native
// byte order, and returns the new value. To subtract a positive c, add
// ^uint32(c-1), as with [atomic.AddUint32]. The offset must be a multiple
// of 4 and the word must lie within [Start, Size). On a read-only Manager it
// returns an error matching [chunkmap.ErrReadOnly].
func (v *ViewAccessor) AddUint32(off int64, delta uint32) (uint32, error) {
	const op = "add uint32"
	var p chunkmap.Pinned
	w, err := v.pin32(op, off, true, &p)
	if err != nil {
		return 0, err
	}
	x, f := add32(w, delta)
	p.Release()
	if f.hit {
		return 0, v.faultErr(op, off, f)
	}
	return x, nil
}

// CompareAndSwapUint32 atomically replaces the uint32 at offset off with
// new if it equals old, in native byte order, and reports whether it did.
// The offset must be a multiple of 4 and the word must lie within
// [Start, Size). On a read-only Manager it returns an error matching
// [chunkmap.ErrReadOnly].
func (v *ViewAccessor) CompareAndSwapUint32(off int64, old, new uint32) (bool, error) {
	const op = "compare-and-swap uint32"
	var p chunkmap.Pinned
	w, err := v.pin32(op, off, true, &p)
	if err != nil {
		return false, err
	}
	swapped, f := cas32(w, old, new)
	p.Release()
	if f.hit {
		return false, v.faultErr(op, off, f)
	}
	return swapped, nil
}

// LoadUint64 atomically loads the uint64 at offset off, in native byte
// order. The offset must be a multiple of 8, else the error matches
// [chunkmap.ErrUnaligned], and the word must lie within [Start, Size), else
// it matches [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) LoadUint64(off int64) (uint64, error) {
	const op = "load uint64"
	var p chunkmap.Pinned
	w, err := v.pin64(op, off, false, &p)
	if err != nil {
		return 0, err
	}
	x, f := load64(w)
	p.Release()
	if f.hit {
		return 0, v.faultErr(op, off, f)
	}
	return x, nil
}

// StoreUint64 atomically stores x at offset off, in native byte order. The
// offset must be a multiple of 8 and the word must lie within [Start, Size):
// atomics never extend Size. On a read-only Manager it returns an error
// matching [chunkmap.ErrReadOnly].
func (v *ViewAccessor) StoreUint64(off int64, x uint64) error {
	const op = "store uint64"
	var p chunkmap.Pinned
	w, err := v.pin64(op, off, true, &p)
	if err != nil {
		return err
	}
	f := store64(w, x)
	p.Release()
	if f.hit {
		return v.faultErr(op, off, f)
	}
	return nil
}

// AddUint64 atomically adds delta to the uint64 at offset off, in native
// byte order, and returns the new value. To subtract a positive c, add
// ^uint64(c-1), as with [atomic.AddUint64]. The offset must be a multiple
// of 8 and the word must lie within [Start, Size). On a read-only Manager it
// returns an error matching [chunkmap.ErrReadOnly].
func (v *ViewAccessor) AddUint64(off int64, delta uint64) (uint64, error) {
	const op = "add uint64"
	var p chunkmap.Pinned
	w, err := v.pin64(op, off, true, &p)
	if err != nil {
		return 0, err
	}
	x, f := add64(w, delta)
	p.Release()
	if f.hit {
		return 0, v.faultErr(op, off, f)
	}
	return x, nil
}

// CompareAndSwapUint64 atomically replaces the uint64 at offset off with
// new if it equals old, in native byte order, and reports whether it did.
// The offset must be a multiple of 8 and the word must lie within
// [Start, Size). On a read-only Manager it returns an error matching
// [chunkmap.ErrReadOnly].
func (v *ViewAccessor) CompareAndSwapUint64(off int64, old, new uint64) (bool, error) {
	const op = "compare-and-swap uint64"
	var p chunkmap.Pinned
	w, err := v.pin64(op, off, true, &p)
	if err != nil {
		return false, err
	}
	swapped, f := cas64(w, old, new)
	p.Release()
	if f.hit {
		return false, v.faultErr(op, off, f)
	}
	return swapped, nil
}

// pin32 pins the 4-byte word at off for the atomic op (writable for a
// store) into p and returns a pointer to it. The caller must Release p once
// it is done with the pointer. Pin checks that the Manager is open (and,
// for PinWritable, writable) and that the word lies within [Start, Size); an
// aligned word never crosses a chunk boundary, because ChunkSize is a
// multiple of 8.
func (v *ViewAccessor) pin32(op string, off int64, write bool, p *chunkmap.Pinned) (*uint32, error) {
	// A negative offset is left to Pin, which reports it as out of range.
	// The mask, not off%4, because a division costs more than the rest of
	// the check.
	if off >= 0 && off&3 != 0 {
		return nil, v.unaligned(op, off, 4)
	}
	if err := v.pin(op, off, 4, write, p); err != nil {
		return nil, err
	}
	w := word32(p.Bytes())
	if w == nil {
		p.Release()
		return nil, v.misaligned(op, off)
	}
	return w, nil
}

// pin64 is pin32 for 8-byte words.
func (v *ViewAccessor) pin64(op string, off int64, write bool, p *chunkmap.Pinned) (*uint64, error) {
	if off >= 0 && off&7 != 0 {
		return nil, v.unaligned(op, off, 8)
	}
	if err := v.pin(op, off, 8, write, p); err != nil {
		return nil, err
	}
	w := word64(p.Bytes())
	if w == nil {
		p.Release()
		return nil, v.misaligned(op, off)
	}
	return w, nil
}

// pin pins the n bytes at off into p, writable if write is set.
func (v *ViewAccessor) pin(op string, off int64, n int, write bool, p *chunkmap.Pinned) error {
	var err error
	if write {
		*p, err = v.m.PinWritable(off, n)
	} else {
		*p, err = v.m.Pin(off, n)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// unaligned is the error for an atomic op at an offset that is not a
// multiple of the word size.
func (v *ViewAccessor) unaligned(op string, off int64, size int) error {
	return fmt.Errorf("%s at offset %d in %s: %w: offset is not a multiple of %d",
		op, off, v.m.Dir(), chunkmap.ErrUnaligned, size)
}

// misaligned is the error for a word whose address is not aligned although
// its offset is, which the argument at word64 rules out; it is an error
// rather than a panic so that a broken platform assumption cannot crash a
// caller.
func (v *ViewAccessor) misaligned(op string, off int64) error {
	return fmt.Errorf("%s at offset %d in %s: %w: the mapped address is not aligned", op, off, v.m.Dir(), chunkmap.ErrUnaligned)
}

// faultErr is the error for a fault on the pinned word at off.
func (v *ViewAccessor) faultErr(op string, off int64, f fault) error {
	cs := v.m.ChunkSize()
	path := filepath.Join(v.m.Dir(), chunk.Name(off/cs))
	return fmt.Errorf("%s at offset %d: %w: chunk file %s at offset %d, address %#x (truncated or removed by another process, or an I/O error)",
		op, off, chunkmap.ErrFault, path, off%cs, f.addr)
}

// word32 returns b's first four bytes as a *uint32 for sync/atomic, or nil
// if b is too short or its address is not 4-byte aligned.
//
// Why the address is aligned: a chunk is mapped whole, and mmap(2) returns
// a page-aligned address (MapViewOfFile a 64 KiB-aligned one); ChunkSize is
// a power of two of at least 64 KiB, so the byte at logical offset off sits
// at base + off%ChunkSize, and an offset that is a multiple of 4 (or 8) is
// an address that is too. That is all sync/atomic needs, including 64-bit
// atomics on 386 and 32-bit ARM, which need 8-byte alignment. The check
// below costs one AND and keeps a broken assumption from becoming a fault.
func word32(b []byte) *uint32 {
	p := unsafe.Pointer(unsafe.SliceData(b))
	if len(b) < 4 || uintptr(p)%4 != 0 {
		return nil
	}
	return (*uint32)(p)
}

// word64 is word32 for 8-byte words; see word32 for the alignment argument.
func word64(b []byte) *uint64 {
	p := unsafe.Pointer(unsafe.SliceData(b))
	if len(b) < 8 || uintptr(p)%8 != 0 {
		return nil
	}
	return (*uint64)(p)
}

// fault is a memory fault caught by catchFault.
type fault struct {
	addr uintptr
	hit  bool
}

// catchFault is deferred, with the result of debug.SetPanicOnFault(true), by
// each function below. A pinned word cannot be unmapped under the
// operation, so a fault means the chunk file was truncated or removed by
// another process, or the device failed (SIGBUS on Unix); catchFault turns
// it into f and restores the goroutine's previous setting. Any other panic
// goes on unwinding, because it is a bug, not an I/O condition. This
// mirrors the root package's guard, which is unexported.
func catchFault(prev bool, f *fault) {
	debug.SetPanicOnFault(prev)
	if r := recover(); r != nil {
		a, ok := r.(interface{ Addr() uintptr })
		if !ok {
			panic(r)
		}
		f.addr, f.hit = a.Addr(), true
	}
}

func load32(w *uint32) (x uint32, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return atomic.LoadUint32(w), f
}

func store32(w *uint32, x uint32) (f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	atomic.StoreUint32(w, x)
	return f
}

func add32(w *uint32, delta uint32) (x uint32, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return atomic.AddUint32(w, delta), f
}

func cas32(w *uint32, old, new uint32) (swapped bool, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return atomic.CompareAndSwapUint32(w, old, new), f
}

func load64(w *uint64) (x uint64, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return atomic.LoadUint64(w), f
}

func store64(w *uint64, x uint64) (f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	atomic.StoreUint64(w, x)
	return f
}

func add64(w *uint64, delta uint64) (x uint64, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return atomic.AddUint64(w, delta), f
}

func cas64(w *uint64, old, new uint64) (swapped bool, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return atomic.CompareAndSwapUint64(w, old, new), f
}
