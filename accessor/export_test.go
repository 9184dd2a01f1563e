package accessor

import (
	"sync/atomic"
	"unsafe"
)

// AddWord64 is the operation under AddUint64, applied to the first 8 bytes
// of b, which the caller has mapped itself; ok is false if b is too short or
// unaligned. The cross-process test runs it in child processes that map a
// chunk file with package chunk directly, because the dataset lock keeps a
// second read-write Manager out while the parent's is open.
func AddWord64(b []byte, delta uint64) (x uint64, ok bool) {
	if len(b) < 8 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 {
		return 0, false
	}
	return atomic.AddUint64((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), delta), true
}
