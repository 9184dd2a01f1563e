package chunkmap

// The leading fields of Batch are those of batchwin.Head, in its order, at
// its offsets and of its sizes, and Head ends where Batch's next field
// begins; batchState's first field is its runs, each a batchwin.Run:
// package accessor's typed Batch calls read them through a *batchwin.Head
// (see Batch.h in package accessor). Each line below fails to compile if a
// field moves, changes size, or is added to one and not the other: same[d]
// is [0]struct{} only for d == 0, a longer array type for a positive d,
// and a negative difference of uintptr constants overflows. (Making Head
// Batch's first field would need no check, but each access through it
// costs the inliner a node more, and Bytes has none to spare.)

import (
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/batchwin"
)

// same is a [0]struct{}: the type of every check below.
type same = [0]struct{}

var (
	_ [unsafe.Offsetof(Batch{}.lo) - unsafe.Offsetof(batchwin.Head{}.Lo)]struct{}           = same{}
	_ [unsafe.Sizeof(Batch{}.lo) - unsafe.Sizeof(batchwin.Head{}.Lo)]struct{}               = same{}
	_ [unsafe.Offsetof(Batch{}.wlo) - unsafe.Offsetof(batchwin.Head{}.WLo)]struct{}         = same{}
	_ [unsafe.Sizeof(Batch{}.wlo) - unsafe.Sizeof(batchwin.Head{}.WLo)]struct{}             = same{}
	_ [unsafe.Offsetof(Batch{}.n) - unsafe.Offsetof(batchwin.Head{}.N)]struct{}             = same{}
	_ [unsafe.Sizeof(Batch{}.n) - unsafe.Sizeof(batchwin.Head{}.N)]struct{}                 = same{}
	_ [unsafe.Offsetof(Batch{}.wn) - unsafe.Offsetof(batchwin.Head{}.WN)]struct{}           = same{}
	_ [unsafe.Sizeof(Batch{}.wn) - unsafe.Sizeof(batchwin.Head{}.WN)]struct{}               = same{}
	_ [unsafe.Offsetof(Batch{}.lim) - unsafe.Offsetof(batchwin.Head{}.Lim)]struct{}         = same{}
	_ [unsafe.Sizeof(Batch{}.lim) - unsafe.Sizeof(batchwin.Head{}.Lim)]struct{}             = same{}
	_ [unsafe.Offsetof(Batch{}.wlim) - unsafe.Offsetof(batchwin.Head{}.WLim)]struct{}       = same{}
	_ [unsafe.Sizeof(Batch{}.wlim) - unsafe.Sizeof(batchwin.Head{}.WLim)]struct{}           = same{}
	_ [unsafe.Offsetof(Batch{}.p) - unsafe.Offsetof(batchwin.Head{}.P)]struct{}             = same{}
	_ [unsafe.Sizeof(Batch{}.p) - unsafe.Sizeof(batchwin.Head{}.P)]struct{}                 = same{}
	_ [unsafe.Offsetof(Batch{}.wp) - unsafe.Offsetof(batchwin.Head{}.WP)]struct{}           = same{}
	_ [unsafe.Sizeof(Batch{}.wp) - unsafe.Sizeof(batchwin.Head{}.WP)]struct{}               = same{}
	_ [unsafe.Offsetof(Batch{}.epoch) - unsafe.Offsetof(batchwin.Head{}.Epoch)]struct{}     = same{}
	_ [unsafe.Sizeof(Batch{}.epoch) - unsafe.Sizeof(batchwin.Head{}.Epoch)]struct{}         = same{}
	_ [unsafe.Offsetof(Batch{}.shrinks) - unsafe.Offsetof(batchwin.Head{}.Shrinks)]struct{} = same{}
	_ [unsafe.Sizeof(Batch{}.shrinks) - unsafe.Sizeof(batchwin.Head{}.Shrinks)]struct{}     = same{}
	_ [unsafe.Offsetof(Batch{}.st) - unsafe.Offsetof(batchwin.Head{}.Runs)]struct{}         = same{}
	_ [unsafe.Sizeof(Batch{}.st) - unsafe.Sizeof(batchwin.Head{}.Runs)]struct{}             = same{}
	_ [unsafe.Offsetof(Batch{}.shift) - unsafe.Offsetof(batchwin.Head{}.Shift)]struct{}     = same{}
	_ [unsafe.Sizeof(Batch{}.shift) - unsafe.Sizeof(batchwin.Head{}.Shift)]struct{}         = same{}
	_ [unsafe.Offsetof(Batch{}.self) - unsafe.Sizeof(batchwin.Head{})]struct{}              = same{}

	_ [unsafe.Offsetof(batchState{}.runs)]struct{}                                  = same{}
	_ [batchRuns - batchwin.NRuns]struct{}                                          = same{}
	_ [unsafe.Sizeof(batchRun{}) - unsafe.Sizeof(batchwin.Run{})]struct{}           = same{}
	_ [unsafe.Offsetof(batchRun{}.lo) - unsafe.Offsetof(batchwin.Run{}.Lo)]struct{} = same{}
	_ [unsafe.Sizeof(batchRun{}.lo) - unsafe.Sizeof(batchwin.Run{}.Lo)]struct{}     = same{}
	_ [unsafe.Offsetof(batchRun{}.n) - unsafe.Offsetof(batchwin.Run{}.N)]struct{}   = same{}
	_ [unsafe.Sizeof(batchRun{}.n) - unsafe.Sizeof(batchwin.Run{}.N)]struct{}       = same{}
	_ [unsafe.Offsetof(batchRun{}.wn) - unsafe.Offsetof(batchwin.Run{}.WN)]struct{} = same{}
	_ [unsafe.Sizeof(batchRun{}.wn) - unsafe.Sizeof(batchwin.Run{}.WN)]struct{}     = same{}
	_ [unsafe.Offsetof(batchRun{}.p) - unsafe.Offsetof(batchwin.Run{}.P)]struct{}   = same{}
	_ [unsafe.Sizeof(batchRun{}.p) - unsafe.Sizeof(batchwin.Run{}.P)]struct{}       = same{}
)
