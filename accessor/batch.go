package accessor

// This file holds Batch: typed reads and writes under one fault guard for
// many accesses, on top of chunkmap.Batch. Its typed methods are generated
// into batch_gen.go (see generate.go); batchRead and batchWrite implement
// them for every type.

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/batchwin"
)

// Batch is a scope, opened by [ViewAccessor.Batch], in which typed reads
// and writes share one fault guard and read the mapped bytes in place, with
// no lock and no locked instruction per call. A Batch must not be used after
// its function returns, nor by more than one goroutine at a time.
//
// With the machine's byte order (binary.NativeEndian, or the one of
// LittleEndian and BigEndian that it is), on processors that load and store
// at any address (386, amd64, arm64, loong64, ppc64, ppc64le, s390x), the
// typed calls are inlined into the caller's loop: a value within the chunks
// around the one the batch last reached for the first time (see
// [chunkmap.Batch], and [Batch.Hold] to widen them) costs a compare, a check
// that the dataset did not shrink and a load or store, as with
// [chunkmap.Batch.Bytes]. Other values (among them those in the last 7
// bytes of those chunks), every value in another order or on another
// processor, cost a call. Like any load in Go, a read whose value the
// caller never uses may be left out by the compiler, and then cannot fault.
//
// Reads must lie within [Start, Size) and, unlike the ViewAccessor's typed
// writes, so must writes: a Batch does not extend the dataset. A value that
// straddles a chunk boundary is read from, or stored to, both chunks, as
// of one state of the dataset. The bytes a
// Batch reads are those it holds, plain memory: a read racing a Truncate
// that cuts them off, and the growth after it, may return what that growth
// writes, zeros included (the ViewAccessor's own reads never do).
type Batch struct {
	// h is b's fast-path windows and cache of runs, read in place (see
	// readFast and inRun); with fast false, which a zero Batch has,
	// every call takes the call. b is the chunkmap.Batch that
	// Manager.Batch made for this batch and passed to
	// ViewAccessor.Batch's function, never handed to the caller: nothing
	// but chunkmap's own code writes *h, and it empties the windows and
	// the runs when the batch ends, so a copy of bt, or bt used after the
	// batch, finds them empty.
	h    *batchwin.Head
	fast bool // values load and store as themselves (see readFast)
	v    *ViewAccessor
	b    *chunkmap.Batch
	end  int64 // ChunkSize - 1: the mask of an offset within its chunk
	tmp  [8]byte
}

// Batch calls fn with a Batch over the accessor's Manager and returns fn's
// error; see [chunkmap.Manager.Batch] for what a Batch holds mapped and how
// a fault ends it (with an error matching [chunkmap.ErrFault]). Opening a
// Batch allocates; the calls inside it do not.
func (v *ViewAccessor) Batch(fn func(b *Batch) error) error {
	if fn == nil {
		return v.mgr().Batch(nil) // the Manager's error for a nil function
	}
	end := v.mgr().ChunkSize() - 1
	return v.mgr().Batch(func(cb *chunkmap.Batch) error {
		return fn(&Batch{h: (*batchwin.Head)(unsafe.Pointer(cb)), fast: v.native && unalignedOK, v: v, b: cb, end: end})
	})
}

// Hold holds the chunks of the n bytes at off for reading for the rest of
// the batch, so that the typed reads that follow find them without a call;
// see [chunkmap.Batch.Hold], which it is, for when that pays and what it
// keeps mapped.
func (bt *Batch) Hold(off, n int64) error {
	if bt.b == nil {
		return zeroErr("", zeroBatch.Hold(off, n))
	}
	return bt.b.Hold(off, n)
}

// HoldWritable is Hold for the typed writes that follow; see
// [chunkmap.Batch.HoldWritable].
func (bt *Batch) HoldWritable(off, n int64) error {
	if bt.b == nil {
		return zeroErr("", zeroBatch.HoldWritable(off, n))
	}
	return bt.b.HoldWritable(off, n)
}

// zeroBatch stands in for the chunkmap.Batch of a zero Batch: its methods
// report ErrClosed and write nothing; zeroErr restates what they say.
var zeroBatch chunkmap.Batch

// zeroErr is err, zeroBatch's error for a call of a zero Batch (which is
// always ErrClosed: TestAdversarialZeroBatch), placed at where (the typed
// call's own words; "" keeps zeroBatch's), and saying which Batch to use
// instead: the one ViewAccessor.Batch passes, where zeroBatch, a
// chunkmap.Batch, names Manager.Batch's.
func zeroErr(where string, err error) error {
	if where == "" {
		where = strings.TrimSuffix(err.Error(), ": "+unplace(err))
	}
	return &restated{where + ": " + chunkmap.ErrClosed.Error() + ": a zero Batch (use the one ViewAccessor.Batch passes to its function)", err}
}

// get returns the n bytes at off: the mapped bytes themselves, or for a
// value that straddles a chunk boundary a copy assembled in bt.tmp from
// both chunks (see parts). Its errors are those of the chunkmap.Batch,
// which batchRead restates.
func (bt *Batch) get(off int64, n int) ([]byte, error) {
	b := bt.b
	if b == nil {
		return zeroBatch.Bytes(off, n)
	}
	if bt.inChunk(off, n) {
		return b.Bytes(off, n)
	}
	p, q, err := bt.parts(off, n, b.Bytes)
	if err != nil {
		return nil, err
	}
	k := copy(bt.tmp[:], p)
	copy(bt.tmp[k:n], q)
	return bt.tmp[:n], nil
}

// inChunk reports whether the n bytes at off lie within one chunk, or off
// is negative (which Bytes refuses): whether one call of Bytes or
// WritableBytes answers for them.
func (bt *Batch) inChunk(off int64, n int) bool {
	return off < 0 || off&bt.end <= bt.end+1-int64(n)
}

// parts returns the two parts, in the chunks on either side of a boundary,
// of the n bytes at off, through bytes (Bytes or WritableBytes). Each part
// is one call, which holds only its own chunk: one call over both would
// map the two side by side in a private view, on top of the slots, where
// the arena does not place them so. Two calls could join the first chunk
// as the batch held it to the second as it is after a Truncate that
// deleted and remade both (which a follower's miss on the second may take),
// so the first part is asked for again after the second: the same address
// means the batch still holds the same first chunk (a deleted one is
// reached anew, in a mapping of its own), so both parts are of one state.
// Where the first chunk keeps being replaced, the value is taken in one
// range after all.
func (bt *Batch) parts(off int64, n int, bytes func(int64, int) ([]byte, error)) (p, q []byte, err error) {
	k := int(bt.end + 1 - off&bt.end) // bytes in the first chunk
	for range 3 {
		if p, err = bytes(off, k); err != nil {
			return nil, nil, err
		}
		if q, err = bytes(off+int64(k), n-k); err != nil {
			return nil, nil, err
		}
		again, err := bytes(off, k)
		if err != nil {
			return nil, nil, err
		}
		if &again[0] == &p[0] {
			return p, q, nil
		}
	}
	whole, err := bytes(off, n)
	if err != nil {
		return nil, nil, err
	}
	return whole[:k], whole[k:], nil
}

// put stores src at off, across a chunk boundary if need be (see parts).
// Nothing is stored if any part of the range is refused. Its errors are
// those of the chunkmap.Batch, which batchWrite restates.
func (bt *Batch) put(off int64, src []byte) error {
	b := bt.b
	if b == nil {
		_, err := zeroBatch.WritableBytes(off, len(src))
		return err
	}
	n := len(src)
	if bt.inChunk(off, n) {
		p, err := b.WritableBytes(off, n)
		if err != nil {
			return err
		}
		copy(p, src)
		return nil
	}
	p, q, err := bt.parts(off, n, b.WritableBytes)
	if err != nil {
		return err
	}
	k := copy(p, src)
	copy(q, src[k:])
	return nil
}

// readFast is Batch.ReadName: the value, loaded as itself from the
// mapping, if the accessor's order is the machine's (and the processor
// loads values at any address, see unalignedOK) and the value lies in the
// window of chunkmap.Batch.Bytes' fast path, read in place through bt.h;
// else slow's answer (slow is a parameter for the reason batchBytes in
// package chunkmap gives). The window is contiguous memory in chunks the
// batch holds, across chunk boundaries too, so where the value lies in its
// chunk needs no check. Small enough, with its caller, to be inlined into
// the caller's loop: one check of the window, one of the epoch and a load
// per value, where batchRead is a call.
func readFast[T value](bt *Batch, off int64, slow func(*Batch, int64) (T, error)) (x T, err error) {
	if h := bt.h; bt.fast {
		if o := uint64(off - h.Lo); o < h.Lim && atomic.LoadUint64(h.Shrinks) == h.Epoch {
			return *(*T)(unsafe.Add(h.P, o)), nil
		}
	}
	x, err = slow(bt, off)
	return
}

// writeFast is readFast for Batch.WriteName: the value is stored as itself
// in the window of chunkmap.Batch.WritableBytes, whose chunks the batch
// holds writable and allocated on disk (and marked for Sync).
func writeFast[T value](bt *Batch, off int64, x T, slow func(*Batch, int64, T) error) (err error) {
	if h := bt.h; bt.fast {
		if o := uint64(off - h.WLo); o < h.WLim && atomic.LoadUint64(h.Shrinks) == h.Epoch {
			*(*T)(unsafe.Add(h.WP, o)) = x
			return nil
		}
	}
	err = slow(bt, off, x)
	return
}

// inRun returns where the n bytes at off are mapped (writable, with write)
// if they lie in a chunk the batch holds whose run its cache keeps, as
// chunkmap.Batch's own calls find them outside their window (a value that
// the window misses, before the batch has touched the chunks around it, is
// most often in one), else nil: one call per such value, where Bytes' slow
// path would be two more. Only with fast: where the value's bytes are
// loaded as themselves.
func (bt *Batch) inRun(off int64, n int, write bool) unsafe.Pointer {
	h := bt.h
	r := &h.Runs[uint64(off>>(h.Shift&63))%batchwin.NRuns]
	lim := r.N
	if write {
		lim = r.WN
	}
	if o := uint64(off - r.Lo); o < lim && uint64(n) <= lim-o && atomic.LoadUint64(h.Shrinks) == h.Epoch {
		return unsafe.Add(r.P, o)
	}
	return nil
}

// batchRead is Batch.ReadName outside readFast's window: with fast, the
// value itself if the batch's cache of runs has it (inRun); else its bytes,
// straight from the mapping, loaded into an aligned word (n is a constant
// in each instantiation, so one case of each switch remains), converted to
// the machine's order and read as a T.
func batchRead[T value](bt *Batch, off int64) (T, error) {
	n := sizeOf[T]()
	if bt.fast {
		if p := bt.inRun(off, n, false); p != nil {
			return *(*T)(p), nil
		}
	}
	var p []byte
	var err error
	if b := bt.b; b != nil && bt.inChunk(off, n) {
		// Bytes' fast path, inlined here: one call per value, this one.
		p, err = b.Bytes(off, n)
	} else {
		p, err = bt.get(off, n)
	}
	if err != nil {
		return 0, bt.restate(fmt.Sprintf("batch read %T", T(0)), off, n, err)
	}
	var w uint64
	ne := binary.NativeEndian
	switch n {
	case 1:
		*(*uint8)(unsafe.Pointer(&w)) = p[0]
	case 2:
		*(*uint16)(unsafe.Pointer(&w)) = ne.Uint16(p)
	case 4:
		*(*uint32)(unsafe.Pointer(&w)) = ne.Uint32(p)
	case 8:
		w = ne.Uint64(p)
	}
	if n > 1 && !bt.v.native {
		if bt.v.kind != customOrder {
			reverseWord(&w, n)
		} else {
			bt.customToNative(&w, n)
		}
	}
	return *(*T)(unsafe.Pointer(&w)), nil
}

// batchWrite is Batch.WriteName, the inverse of batchRead.
func batchWrite[T value](bt *Batch, off int64, x T) error {
	if bt.fast {
		if p := bt.inRun(off, sizeOf[T](), true); p != nil {
			*(*T)(p) = x
			return nil
		}
	}
	var w uint64
	*(*T)(unsafe.Pointer(&w)) = x
	n := sizeOf[T]()
	b := (*[8]byte)(unsafe.Pointer(&w))[:n:n]
	if n > 1 && bt.v != nil && !bt.v.native { // a zero Batch has no accessor: put reports it
		if bt.v.kind != customOrder {
			reverseWord(&w, n)
		} else {
			bt.customFromNative(&w, n)
		}
	}
	if cb := bt.b; cb != nil && bt.inChunk(off, n) {
		// WritableBytes' fast path, inlined here (see batchRead).
		p, err := cb.WritableBytes(off, n)
		if err != nil {
			return bt.restate(fmt.Sprintf("batch write %T", T(0)), off, n, err)
		}
		// One store of n bytes, where copy would call memmove.
		ne := binary.NativeEndian
		switch n {
		case 1:
			p[0] = b[0]
		case 2:
			ne.PutUint16(p, *(*uint16)(unsafe.Pointer(&w)))
		case 4:
			ne.PutUint32(p, *(*uint32)(unsafe.Pointer(&w)))
		case 8:
			ne.PutUint64(p, w)
		}
		return nil
	}
	if err := bt.put(off, b); err != nil {
		return bt.restate(fmt.Sprintf("batch write %T", T(0)), off, n, err)
	}
	return nil
}

// customToNative converts the n-byte value at the start of *w from the
// accessor's custom byte order to the machine's. The custom order's calls
// get bt.tmp, not w: a slice of w passed into an interface's method
// escapes, which made every call of a Batch in a custom order allocate
// (ViewAccessor.toNative copies to the heap for the same reason), where
// bt.tmp already lives in the heap with the Batch, which one goroutine
// uses at a time.
func (bt *Batch) customToNative(w *uint64, n int) {
	t := bt.tmp[:n:n]
	copy(t, (*[8]byte)(unsafe.Pointer(w))[:n:n])
	switch c := bt.v.custom; n {
	case 2:
		*(*uint16)(unsafe.Pointer(w)) = c.Uint16(t)
	case 4:
		*(*uint32)(unsafe.Pointer(w)) = c.Uint32(t)
	case 8:
		*w = c.Uint64(t)
	}
}

// customFromNative is the inverse of customToNative.
func (bt *Batch) customFromNative(w *uint64, n int) {
	t := bt.tmp[:n:n]
	switch c := bt.v.custom; n {
	case 2:
		c.PutUint16(t, *(*uint16)(unsafe.Pointer(w)))
	case 4:
		c.PutUint32(t, *(*uint32)(unsafe.Pointer(w)))
	case 8:
		c.PutUint64(t, *w)
	}
	copy((*[8]byte)(unsafe.Pointer(w))[:n:n], t)
}

// restate is the error of the typed Batch call op (which names the type)
// of n bytes at off whose chunkmap.Batch call failed with err: named as
// the typed call, as the ViewAccessor's typed calls name theirs, and not
// as the Bytes or WritableBytes underneath (which names neither the type
// nor, for a value that straddles a chunk boundary, the value's own
// extent). A zero Batch has no chunkmap.Batch, nor a Manager whose
// directory to name (zeroErr). Off the fast path: the name is made only
// for an error.
func (bt *Batch) restate(op string, off int64, n int, err error) error {
	if bt.b == nil {
		return zeroErr(extent(op, off, int64(n)), err)
	}
	return bt.v.restate(op, off, int64(n), err)
}
