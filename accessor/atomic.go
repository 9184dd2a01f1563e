package accessor

// This file holds the atomics: sync/atomic operations on words of mapped
// memory, in native byte order. The Manager performs them (lock-free when
// the word's chunk is mapped, fault guarded); they are here so that an
// accessor offers every kind of access in one place.

// LoadUint32 atomically loads the uint32 at offset off, in native byte
// order. The offset must be a multiple of 4, else the error matches
// [chunkmap.ErrUnaligned], and the word must lie within [Start, Size), else
// it matches [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) LoadUint32(off int64) (uint32, error) { return v.mgr().LoadUint32(off) }

// StoreUint32 atomically stores x at offset off, in native byte order. The
// offset must be a multiple of 4 and the word must lie within [Start, Size):
// atomics never extend Size. On a read-only Manager it returns an error
// matching [chunkmap.ErrReadOnly].
func (v *ViewAccessor) StoreUint32(off int64, x uint32) error { return v.mgr().StoreUint32(off, x) }

// AddUint32 atomically adds delta to the uint32 at offset off, in native
// byte order, and returns the new value. To subtract a positive c, add
// ^uint32(c-1), as with [atomic.AddUint32]. The offset must be a multiple
// of 4 and the word must lie within [Start, Size). On a read-only Manager it
// returns an error matching [chunkmap.ErrReadOnly].
func (v *ViewAccessor) AddUint32(off int64, delta uint32) (uint32, error) {
	return v.mgr().AddUint32(off, delta)
}

// CompareAndSwapUint32 atomically replaces the uint32 at offset off with
// new if it equals old, in native byte order, and reports whether it did.
// The offset must be a multiple of 4 and the word must lie within
// [Start, Size). On a read-only Manager it returns an error matching
// [chunkmap.ErrReadOnly].
func (v *ViewAccessor) CompareAndSwapUint32(off int64, old, new uint32) (bool, error) {
	return v.mgr().CompareAndSwapUint32(off, old, new)
}

// LoadUint64 is LoadUint32 for the uint64 at offset off, a multiple of 8.
func (v *ViewAccessor) LoadUint64(off int64) (uint64, error) { return v.mgr().LoadUint64(off) }

// StoreUint64 is StoreUint32 for the uint64 at offset off, a multiple of 8.
func (v *ViewAccessor) StoreUint64(off int64, x uint64) error { return v.mgr().StoreUint64(off, x) }

// AddUint64 is AddUint32 for the uint64 at offset off, a multiple of 8.
func (v *ViewAccessor) AddUint64(off int64, delta uint64) (uint64, error) {
	return v.mgr().AddUint64(off, delta)
}

// CompareAndSwapUint64 is CompareAndSwapUint32 for the uint64 at offset
// off, a multiple of 8.
func (v *ViewAccessor) CompareAndSwapUint64(off int64, old, new uint64) (bool, error) {
	return v.mgr().CompareAndSwapUint64(off, old, new)
}
