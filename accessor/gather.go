package accessor

// This file holds the gather and scatter calls: typed values at many
// scattered offsets in one call, under one fault guard.

import (
	"fmt"

	"github.com/chunkmap/chunkmap"
)

// gatherStep is how many values a gather or scatter call moves through its
// stack buffer at a time: enough to amortise the fault guard of each
// Manager call, small enough to stay in L1.
const gatherStep = 256

// ReadUint64sAt reads the uint64 at each offset offs[k] into dst[k], in the
// accessor's byte order. len(dst) must be at least len(offs). Every value
// must lie wholly within [Start, Size); otherwise it returns an error
// matching [chunkmap.ErrOutOfRange] naming the offset, after filling dst for
// earlier offsets.
//
// This is the call for random access at memory speed: the values are
// gathered by [chunkmap.Manager.Gather], one loop with no lock and no locked
// instruction under one fault guard per 256 values, so the processor overlaps
// the cache misses of independent values as it does over one flat mapping.
func (v *ViewAccessor) ReadUint64sAt(offs []int64, dst []uint64) error {
	if len(dst) < len(offs) {
		return shortValues("read uint64s at", len(offs), len(dst))
	}
	var buf [gatherStep * 8]byte
	for i := 0; i < len(offs); i += gatherStep {
		k := min(gatherStep, len(offs)-i)
		if err := v.m.Gather(buf[:8*k], offs[i:i+k], 8); err != nil {
			return err
		}
		v.decodeUint64s(dst[i:i+k], buf[:8*k])
	}
	return nil
}

// WriteUint64sAt stores src[k] at each offset offs[k], in the accessor's byte
// order. len(src) must be at least len(offs). Every value must lie wholly
// within [Start, Size): unlike WriteUint64 it does not extend Size. On an
// error, the values for earlier offsets have been written.
func (v *ViewAccessor) WriteUint64sAt(offs []int64, src []uint64) error {
	if len(src) < len(offs) {
		return shortValues("write uint64s at", len(offs), len(src))
	}
	var buf [gatherStep * 8]byte
	for i := 0; i < len(offs); i += gatherStep {
		k := min(gatherStep, len(offs)-i)
		v.encodeUint64s(buf[:8*k], src[i:i+k])
		if err := v.m.Scatter(buf[:8*k], offs[i:i+k], 8); err != nil {
			return err
		}
	}
	return nil
}

// ReadUint32sAt is ReadUint64sAt for uint32 values.
func (v *ViewAccessor) ReadUint32sAt(offs []int64, dst []uint32) error {
	if len(dst) < len(offs) {
		return shortValues("read uint32s at", len(offs), len(dst))
	}
	var buf [gatherStep * 4]byte
	for i := 0; i < len(offs); i += gatherStep {
		k := min(gatherStep, len(offs)-i)
		if err := v.m.Gather(buf[:4*k], offs[i:i+k], 4); err != nil {
			return err
		}
		v.decodeUint32s(dst[i:i+k], buf[:4*k])
	}
	return nil
}

// WriteUint32sAt is WriteUint64sAt for uint32 values.
func (v *ViewAccessor) WriteUint32sAt(offs []int64, src []uint32) error {
	if len(src) < len(offs) {
		return shortValues("write uint32s at", len(offs), len(src))
	}
	var buf [gatherStep * 4]byte
	for i := 0; i < len(offs); i += gatherStep {
		k := min(gatherStep, len(offs)-i)
		v.encodeUint32s(buf[:4*k], src[i:i+k])
		if err := v.m.Scatter(buf[:4*k], offs[i:i+k], 4); err != nil {
			return err
		}
	}
	return nil
}

// shortValues is the error of a gather or scatter call given fewer values
// than offsets.
func shortValues(op string, noffs, nvals int) error {
	return fmt.Errorf("%s: %w: %d offsets but room for %d values", op, chunkmap.ErrOutOfRange, noffs, nvals)
}
