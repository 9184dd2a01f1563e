package accessor

// This file holds the helpers of the gather and scatter calls: typed values
// at many scattered offsets in one call, under one fault guard. The calls
// are generated into gather_gen.go (see generate.go).

import (
	"fmt"
	"unsafe"

	"github.com/chunkmap/chunkmap"
)

// gatherStep is how many values a gather or scatter call moves through its
// stack buffer at a time: enough to amortise the fault guard of each
// Manager call, small enough to stay in L1.
const gatherStep = 256

// shortValues is the error of a gather or scatter call given fewer values
// than offsets.
func shortValues(op string, noffs, nvals int) error {
	return fmt.Errorf("%s: %w: %d offsets but room for %d values", op, chunkmap.ErrOutOfRange, noffs, nvals)
}

// native reports whether the accessor's byte order is the machine's: its
// gather and scatter calls then move values straight between the mapping
// and the caller's slice, with no buffer and no conversion.
func (v *ViewAccessor) native() bool {
	return v.kind == littleEndian && !nativeBig || v.kind == bigEndian && nativeBig
}

// rawBytes returns the memory of s as bytes. The values rawBytes is used
// for (fixed-size integers and floats) have no padding and no pointers, and
// their bytes in the machine's order are their encoding in its byte order.
func rawBytes[T uint32 | uint64](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(T(0))))
}
