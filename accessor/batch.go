package accessor

// This file holds Batch: typed reads and writes under one fault guard for
// many accesses, on top of chunkmap.Batch. Its typed methods are generated
// into batch_gen.go (see generate.go); batchRead and batchWrite implement
// them for every type.

import (
	"encoding/binary"
	"unsafe"

	"github.com/chunkmap/chunkmap"
)

// Batch is a scope, opened by [ViewAccessor.Batch], in which typed reads
// and writes share one fault guard and read the mapped bytes in place, with
// no lock and no locked instruction per call. A Batch must not be used after
// its function returns, nor by more than one goroutine at a time.
//
// Reads must lie within [Start, Size) and, unlike the ViewAccessor's typed
// writes, so must writes: a Batch does not extend the dataset. A value that
// straddles a chunk boundary is read or stored in place in both chunks,
// which the Batch holds side by side (or maps together in a private view
// where the arena does not place them so). The bytes a
// Batch reads are those it holds, plain memory: a read racing a Truncate
// that cuts them off, and the growth after it, may return what that growth
// writes, zeros included (the ViewAccessor's own reads never do).
type Batch struct {
	v *ViewAccessor
	b *chunkmap.Batch
}

// Batch calls fn with a Batch over the accessor's Manager and returns fn's
// error; see [chunkmap.Manager.Batch] for what a Batch holds mapped and how
// a fault ends it (with an error matching [chunkmap.ErrFault]). Opening a
// Batch allocates; the calls inside it do not.
func (v *ViewAccessor) Batch(fn func(b *Batch) error) error {
	if fn == nil {
		return v.m.Batch(nil) // the Manager's error for a nil function
	}
	return v.m.Batch(func(cb *chunkmap.Batch) error {
		return fn(&Batch{v: v, b: cb})
	})
}

// zeroBatch stands in for the chunkmap.Batch of a zero Batch: its methods
// report ErrClosed, naming the misuse, and write nothing.
var zeroBatch chunkmap.Batch

// get returns the n bytes at off, straight from the mapping. A value that
// straddles a chunk boundary is one range of chunkmap.Batch.Bytes too, so
// that both parts are of the same chunks: two calls could join the first
// chunk as the batch held it to the second as it is after a Truncate that
// deleted and remade both (chunkmap.Batch reaches a deleted chunk anew).
func (bt *Batch) get(off int64, n int) ([]byte, error) {
	if bt.b == nil {
		return zeroBatch.Bytes(off, n)
	}
	return bt.b.Bytes(off, n)
}

// put stores src at off, across a chunk boundary if need be, in one range
// of chunkmap.Batch.WritableBytes (see get). Nothing is stored if the
// range is refused.
func (bt *Batch) put(off int64, src []byte) error {
	if bt.b == nil {
		_, err := zeroBatch.WritableBytes(off, len(src))
		return err
	}
	p, err := bt.b.WritableBytes(off, len(src))
	if err != nil {
		return err
	}
	copy(p, src)
	return nil
}

// batchRead is Batch.ReadName: the value's bytes, straight from the
// mapping, loaded into an aligned word (n is a constant in each
// instantiation, so one case of each switch remains), converted to the
// machine's order and read as a T.
func batchRead[T value](bt *Batch, off int64) (T, error) {
	n := sizeOf[T]()
	p, err := bt.get(off, n)
	if err != nil {
		return 0, err
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
			bt.v.toNative((*[8]byte)(unsafe.Pointer(&w))[:n:n], n)
		}
	}
	return *(*T)(unsafe.Pointer(&w)), nil
}

// batchWrite is Batch.WriteName, the inverse of batchRead.
func batchWrite[T value](bt *Batch, off int64, x T) error {
	var w uint64
	*(*T)(unsafe.Pointer(&w)) = x
	n := sizeOf[T]()
	b := (*[8]byte)(unsafe.Pointer(&w))[:n:n]
	if n > 1 && bt.v != nil && !bt.v.native { // a zero Batch has no accessor: put reports it
		if bt.v.kind != customOrder {
			reverseWord(&w, n)
		} else {
			bt.v.fromNative(b, n)
		}
	}
	return bt.put(off, b)
}
