package chunkmap

// The leading fields of Batch are those of batchwin.Head, in its order and
// at its offsets, which package accessor's typed Batch calls read through a
// *batchwin.Head (see headOf in package accessor): each line below fails to
// compile if a field moves. A constant index out of [0, 1) is an error, and
// so is a negative difference of uintptr constants.

import (
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/batchwin"
)

var (
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.lo)-unsafe.Offsetof(batchwin.Head{}.Lo)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Lo)-unsafe.Offsetof(Batch{}.lo)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wlo)-unsafe.Offsetof(batchwin.Head{}.WLo)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WLo)-unsafe.Offsetof(Batch{}.wlo)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.n)-unsafe.Offsetof(batchwin.Head{}.N)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.N)-unsafe.Offsetof(Batch{}.n)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wn)-unsafe.Offsetof(batchwin.Head{}.WN)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WN)-unsafe.Offsetof(Batch{}.wn)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.lim)-unsafe.Offsetof(batchwin.Head{}.Lim)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Lim)-unsafe.Offsetof(Batch{}.lim)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wlim)-unsafe.Offsetof(batchwin.Head{}.WLim)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WLim)-unsafe.Offsetof(Batch{}.wlim)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.p)-unsafe.Offsetof(batchwin.Head{}.P)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.P)-unsafe.Offsetof(Batch{}.p)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wp)-unsafe.Offsetof(batchwin.Head{}.WP)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WP)-unsafe.Offsetof(Batch{}.wp)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.epoch)-unsafe.Offsetof(batchwin.Head{}.Epoch)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Epoch)-unsafe.Offsetof(Batch{}.epoch)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.shrinks)-unsafe.Offsetof(batchwin.Head{}.Shrinks)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Shrinks)-unsafe.Offsetof(Batch{}.shrinks)]
)
