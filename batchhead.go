package chunkmap

// The leading fields of Batch are those of batchwin.Head, in its order, at
// its offsets and of its sizes, and Head ends where Batch's next field
// begins: package accessor's typed Batch calls read them through a
// *batchwin.Head (see Batch.h in package accessor). Each line below fails to
// compile if a field moves, changes size, or is added to one and not the
// other: a constant index out of [0, 1) is an error, and so is a negative
// difference of uintptr constants. (Making Head Batch's first field would
// need no check, but each access through it costs the inliner a node more,
// and Bytes has none to spare.)

import (
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/batchwin"
)

var (
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.lo)-unsafe.Offsetof(batchwin.Head{}.Lo)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Lo)-unsafe.Offsetof(Batch{}.lo)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.lo)-unsafe.Sizeof(batchwin.Head{}.Lo)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wlo)-unsafe.Offsetof(batchwin.Head{}.WLo)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WLo)-unsafe.Offsetof(Batch{}.wlo)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.wlo)-unsafe.Sizeof(batchwin.Head{}.WLo)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.n)-unsafe.Offsetof(batchwin.Head{}.N)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.N)-unsafe.Offsetof(Batch{}.n)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.n)-unsafe.Sizeof(batchwin.Head{}.N)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wn)-unsafe.Offsetof(batchwin.Head{}.WN)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WN)-unsafe.Offsetof(Batch{}.wn)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.wn)-unsafe.Sizeof(batchwin.Head{}.WN)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.lim)-unsafe.Offsetof(batchwin.Head{}.Lim)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Lim)-unsafe.Offsetof(Batch{}.lim)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.lim)-unsafe.Sizeof(batchwin.Head{}.Lim)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wlim)-unsafe.Offsetof(batchwin.Head{}.WLim)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WLim)-unsafe.Offsetof(Batch{}.wlim)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.wlim)-unsafe.Sizeof(batchwin.Head{}.WLim)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.p)-unsafe.Offsetof(batchwin.Head{}.P)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.P)-unsafe.Offsetof(Batch{}.p)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.p)-unsafe.Sizeof(batchwin.Head{}.P)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.wp)-unsafe.Offsetof(batchwin.Head{}.WP)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.WP)-unsafe.Offsetof(Batch{}.wp)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.wp)-unsafe.Sizeof(batchwin.Head{}.WP)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.epoch)-unsafe.Offsetof(batchwin.Head{}.Epoch)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Epoch)-unsafe.Offsetof(Batch{}.epoch)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.epoch)-unsafe.Sizeof(batchwin.Head{}.Epoch)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.shrinks)-unsafe.Offsetof(batchwin.Head{}.Shrinks)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Shrinks)-unsafe.Offsetof(Batch{}.shrinks)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.shrinks)-unsafe.Sizeof(batchwin.Head{}.Shrinks)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.st)-unsafe.Offsetof(batchwin.Head{}.Runs)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Runs)-unsafe.Offsetof(Batch{}.st)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.st)-unsafe.Sizeof(batchwin.Head{}.Runs)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.shift)-unsafe.Offsetof(batchwin.Head{}.Shift)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Head{}.Shift)-unsafe.Offsetof(Batch{}.shift)]
	_ = [1]struct{}{}[unsafe.Sizeof(Batch{}.shift)-unsafe.Sizeof(batchwin.Head{}.Shift)]
	// Head.Runs points at a batchState's runs, its first field, each run
	// a batchwin.Run.
	_ = [1]struct{}{}[unsafe.Offsetof(batchState{}.runs)]
	_ = [1]struct{}{}[batchRuns-batchwin.NRuns]
	_ = [1]struct{}{}[batchwin.NRuns-batchRuns]
	_ = [1]struct{}{}[unsafe.Sizeof(batchRun{})-unsafe.Sizeof(batchwin.Run{})]
	_ = [1]struct{}{}[unsafe.Sizeof(batchwin.Run{})-unsafe.Sizeof(batchRun{})]
	_ = [1]struct{}{}[unsafe.Offsetof(batchRun{}.lo)-unsafe.Offsetof(batchwin.Run{}.Lo)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Run{}.Lo)-unsafe.Offsetof(batchRun{}.lo)]
	_ = [1]struct{}{}[unsafe.Sizeof(batchRun{}.lo)-unsafe.Sizeof(batchwin.Run{}.Lo)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchRun{}.n)-unsafe.Offsetof(batchwin.Run{}.N)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Run{}.N)-unsafe.Offsetof(batchRun{}.n)]
	_ = [1]struct{}{}[unsafe.Sizeof(batchRun{}.n)-unsafe.Sizeof(batchwin.Run{}.N)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchRun{}.wn)-unsafe.Offsetof(batchwin.Run{}.WN)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Run{}.WN)-unsafe.Offsetof(batchRun{}.wn)]
	_ = [1]struct{}{}[unsafe.Sizeof(batchRun{}.wn)-unsafe.Sizeof(batchwin.Run{}.WN)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchRun{}.p)-unsafe.Offsetof(batchwin.Run{}.P)]
	_ = [1]struct{}{}[unsafe.Offsetof(batchwin.Run{}.P)-unsafe.Offsetof(batchRun{}.p)]
	_ = [1]struct{}{}[unsafe.Sizeof(batchRun{}.p)-unsafe.Sizeof(batchwin.Run{}.P)]
	// Head ends where Batch's fields past it begin: a field added to Head
	// alone would read Batch's next one.
	_ = [1]struct{}{}[unsafe.Sizeof(batchwin.Head{})-unsafe.Offsetof(Batch{}.self)]
	_ = [1]struct{}{}[unsafe.Offsetof(Batch{}.self)-unsafe.Sizeof(batchwin.Head{})]
)
