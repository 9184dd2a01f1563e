package accessor

// This file holds the helpers of the gather and scatter calls: typed values
// at many scattered offsets in one call, under one fault guard per 256
// (gatherValues and scatterValues in values.go; their per-type methods are
// generated into gather_gen.go, see generate.go).

import (
	"fmt"

	"github.com/chunkmap/chunkmap"
)

// gatherStep is how many values a gather or scatter call moves through its
// stack buffer at a time: enough to amortise the fault guard of each
// Manager call, small enough to stay in L1.
const gatherStep = 256

// shortValues is the error of a gather or scatter call given fewer values
// than offsets. A closed Manager is reported first, as by every call after
// Close (an empty Gather checks it and nothing else).
func (v *ViewAccessor) shortValues(op string, noffs, nvals int) error {
	if err := v.m.Gather(nil, nil, 1); err != nil {
		return err
	}
	return fmt.Errorf("%s %d offsets in %s: %w: room for %d values", op, noffs, v.dir(), chunkmap.ErrOutOfRange, nvals)
}
