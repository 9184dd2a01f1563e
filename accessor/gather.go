package accessor

// This file holds the helpers of the gather and scatter calls: typed values
// at many scattered offsets in one call, under one fault guard per 256
// (gatherValues and scatterValues in values.go; their per-type methods are
// generated into gather_gen.go, see generate.go).

import (
	"errors"
	"fmt"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/units"
)

// gatherStep is how many values a gather or scatter call moves through its
// stack buffer at a time: enough to amortise the fault guard of each
// Manager call, small enough to stay in L1.
const gatherStep = 256

// shortValues is the error of a gather (or, with write, scatter) call of
// values of size bytes given fewer values than offsets. A closed Manager is
// reported first, as by every call after Close, and as the call would have
// reported it with enough values: by the Gather or Scatter underneath,
// which checks it before its arguments, so that the error names the scatter
// of a write call, the value size and the first offset. So is a read-only
// Manager for a scatter, as every write there reports it whatever its
// arguments.
func (v *ViewAccessor) shortValues(op string, write bool, offs []int64, size, nvals int) error {
	check := v.mgr().Gather
	if write {
		check = v.mgr().Scatter
	}
	if err := check(nil, offs, size); errors.Is(err, chunkmap.ErrClosed) || errors.Is(err, chunkmap.ErrReadOnly) {
		return err
	}
	return fmt.Errorf("%s %s in %s: %w: room for %s", op, units.Count(len(offs), "offset"), v.dir(), chunkmap.ErrOutOfRange, units.Count(nvals, "value"))
}

// bufferFault is the error of a gather (or scatter) call op over offs whose
// copy of values [i, j) into (or out of) the caller's slice failed, err: a
// fault on that slice, where a byte order not the machine's takes the
// values through the call's buffer. It names the call as shortValues does,
// by its offsets, and then the values whose copy failed, with the offset
// of the first where it can be read: the offsets are the caller's memory
// too, and a scatter copies its values before anything reads an offset,
// so they are read under a fault guard, and left out if they fault.
func (v *ViewAccessor) bufferFault(op string, offs []int64, i, j, size int, err error) error {
	var first [1]int64
	known := copyValues(rawBytes(first[:]), rawBytes(offs[i:i+1])) == nil
	which := fmt.Sprintf("value %d, %s", i, units.Count(size, "byte"))
	switch {
	case j-i > 1 && known:
		which = fmt.Sprintf("values %d to %d, from offset %d", i, j-1, first[0])
	case j-i > 1:
		which = fmt.Sprintf("values %d to %d", i, j-1)
	case known:
		which += fmt.Sprintf(" at offset %d", first[0])
	}
	return v.restatePlace(fmt.Sprintf("%s %s (%s)", op, units.Count(len(offs), "offset"), which), err)
}
