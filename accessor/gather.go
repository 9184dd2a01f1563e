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
// than offsets.
func shortValues(op string, noffs, nvals int) error {
	return fmt.Errorf("%s: %w: %d offsets but room for %d values", op, chunkmap.ErrOutOfRange, noffs, nvals)
}
