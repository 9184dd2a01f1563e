package accessor

// This file holds Slice and View: zero-copy access to mapped bytes, pinned
// in place.

import (
	"sync/atomic"

	"github.com/chunkmap/chunkmap"
)

// View is a range of a dataset's bytes pinned in place by
// [ViewAccessor.Slice]: the chunks under it stay mapped, whatever the LRU
// wants, until Release ([chunkmap.Stats].Pinned counts them meanwhile).
//
// A View is safe for concurrent use by multiple goroutines: Bytes may be
// called and its bytes read (and, on a read-write Manager, written) from any
// goroutine, and Release is idempotent. No goroutine may touch the bytes
// once any of them has called Release. A View that is never released keeps
// its chunks mapped until the process exits.
type View struct {
	b        []byte
	off      int64
	p        *chunkmap.Pinned // owned by Release once released is set
	released atomic.Bool
}

// Slice returns the n bytes at offset off, pinned in place: a zero-copy view
// of the mapped chunks, one contiguous slice even where the range crosses
// chunk boundaries (see [chunkmap.Manager.Pin]), up to the whole dataset.
// The range must lie within [Start, Size); otherwise Slice returns an error
// matching [chunkmap.ErrOutOfRange]. A negative n, a negative offset and an
// end that overflows are out of range too.
//
// On a read-write Manager the bytes are writable, and the chunks count as
// stored to, so the next [chunkmap.Manager.Sync] after a store (and after
// Release) makes it durable; on a read-only Manager they are read-only and
// a store to them faults. The caller must call [View.Release] when done.
// Slice allocates the View; the bytes are not copied.
func (v *ViewAccessor) Slice(off int64, n int) (*View, error) {
	w := &View{off: off}
	var err error
	if v.mgr().ReadOnly() {
		w.p, err = v.mgr().Pin(off, n)
	} else {
		w.p, err = v.mgr().PinWritable(off, n)
	}
	if err != nil {
		return nil, v.restate("slice", off, int64(n), err)
	}
	w.b = w.p.Bytes()
	return w, nil
}

// Bytes returns the pinned bytes: mapped memory owned by the Manager, with
// length and capacity n. They are valid until Release and must not be used
// after it (on Unix a stray access then faults, or reads a later mapping's
// data). Bytes returns nil once Release has been called, and on a nil View.
func (w *View) Bytes() []byte {
	if w == nil || w.released.Load() {
		return nil
	}
	return w.b
}

// Off returns the logical offset of the view's first byte (before and
// after Release), or 0 on a nil View.
func (w *View) Off() int64 {
	if w == nil {
		return 0
	}
	return w.off
}

// Release unpins the bytes; after it the chunk may be evicted and unmapped
// again. Calling Release more than once, from any goroutine, or on a nil
// View (what a failed Slice returns), does nothing, as for a
// [chunkmap.Pinned].
func (w *View) Release() {
	if w == nil || w.released.Swap(true) {
		return
	}
	w.p.Release()
}
