package accessor

// This file holds Batch: typed reads and writes under one fault guard for
// many accesses, on top of chunkmap.Batch. Its methods all have one shape.

import (
	"math"

	"github.com/chunkmap/chunkmap"
)

// Batch is a scope, opened by [ViewAccessor.Batch], in which typed reads
// and writes share one fault guard and read the mapped bytes in place, with
// no lock and no locked instruction per call. A Batch must not be used after
// its function returns, nor by more than one goroutine at a time.
//
// Reads must lie within [Start, Size) and, unlike the ViewAccessor's typed
// writes, so must writes: a Batch does not extend the dataset. Values that
// straddle a chunk boundary are assembled from both chunks.
type Batch struct {
	v   *ViewAccessor
	b   *chunkmap.Batch
	end int64 // ChunkSize - 1: the mask of an offset within its chunk
	tmp [8]byte
}

// Batch calls fn with a Batch over the accessor's Manager and returns fn's
// error; see [chunkmap.Manager.Batch] for what a Batch holds mapped and how
// a fault ends it (with an error matching [chunkmap.ErrFault]). Opening a
// Batch allocates; the calls inside it do not.
func (v *ViewAccessor) Batch(fn func(b *Batch) error) error {
	end := v.m.ChunkSize() - 1
	return v.m.Batch(func(cb *chunkmap.Batch) error {
		return fn(&Batch{v: v, b: cb, end: end})
	})
}

// get returns the n bytes at off: the mapped bytes themselves, or for a
// value that straddles a chunk boundary a copy assembled in bt.tmp.
func (bt *Batch) get(off int64, n int) ([]byte, error) {
	o := off & bt.end
	if off < 0 || o <= bt.end+1-int64(n) {
		return bt.b.Bytes(off, n)
	}
	k := int(bt.end + 1 - o) // bytes in the first chunk
	p, err := bt.b.Bytes(off, k)
	if err != nil {
		return nil, err
	}
	q, err := bt.b.Bytes(off+int64(k), n-k)
	if err != nil {
		return nil, err
	}
	copy(bt.tmp[:k], p)
	copy(bt.tmp[k:n], q)
	return bt.tmp[:n], nil
}

// put stores src at off, across a chunk boundary if need be. Nothing is
// stored if any part of the range is refused.
func (bt *Batch) put(off int64, src []byte) error {
	n := len(src)
	o := off & bt.end
	if off < 0 || o <= bt.end+1-int64(n) {
		p, err := bt.b.WritableBytes(off, n)
		if err != nil {
			return err
		}
		copy(p, src)
		return nil
	}
	k := int(bt.end + 1 - o)
	p, err := bt.b.WritableBytes(off, k)
	if err != nil {
		return err
	}
	q, err := bt.b.WritableBytes(off+int64(k), n-k)
	if err != nil {
		return err
	}
	copy(p, src[:k])
	copy(q, src[k:])
	return nil
}

// ReadUint8 returns the uint8 at offset off.
func (bt *Batch) ReadUint8(off int64) (uint8, error) {
	b, err := bt.get(off, 1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// WriteUint8 stores x at offset off.
func (bt *Batch) WriteUint8(off int64, x uint8) error {
	b := bt.tmp[:1]
	b[0] = x
	return bt.put(off, b)
}

// ReadInt8 returns the int8 at offset off.
func (bt *Batch) ReadInt8(off int64) (int8, error) {
	b, err := bt.get(off, 1)
	if err != nil {
		return 0, err
	}
	return int8(b[0]), nil
}

// WriteInt8 stores x at offset off.
func (bt *Batch) WriteInt8(off int64, x int8) error {
	b := bt.tmp[:1]
	b[0] = uint8(x)
	return bt.put(off, b)
}

// ReadUint16 returns the uint16 at offset off, in the accessor's byte order.
func (bt *Batch) ReadUint16(off int64) (uint16, error) {
	b, err := bt.get(off, 2)
	if err != nil {
		return 0, err
	}
	return bt.v.uint16(b), nil
}

// WriteUint16 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteUint16(off int64, x uint16) error {
	b := bt.tmp[:2]
	bt.v.putUint16(b, x)
	return bt.put(off, b)
}

// ReadInt16 returns the int16 at offset off, in the accessor's byte order.
func (bt *Batch) ReadInt16(off int64) (int16, error) {
	b, err := bt.get(off, 2)
	if err != nil {
		return 0, err
	}
	return int16(bt.v.uint16(b)), nil
}

// WriteInt16 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteInt16(off int64, x int16) error {
	b := bt.tmp[:2]
	bt.v.putUint16(b, uint16(x))
	return bt.put(off, b)
}

// ReadUint32 returns the uint32 at offset off, in the accessor's byte order.
func (bt *Batch) ReadUint32(off int64) (uint32, error) {
	b, err := bt.get(off, 4)
	if err != nil {
		return 0, err
	}
	return bt.v.uint32(b), nil
}

// WriteUint32 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteUint32(off int64, x uint32) error {
	b := bt.tmp[:4]
	bt.v.putUint32(b, x)
	return bt.put(off, b)
}

// ReadInt32 returns the int32 at offset off, in the accessor's byte order.
func (bt *Batch) ReadInt32(off int64) (int32, error) {
	b, err := bt.get(off, 4)
	if err != nil {
		return 0, err
	}
	return int32(bt.v.uint32(b)), nil
}

// WriteInt32 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteInt32(off int64, x int32) error {
	b := bt.tmp[:4]
	bt.v.putUint32(b, uint32(x))
	return bt.put(off, b)
}

// ReadUint64 returns the uint64 at offset off, in the accessor's byte order.
func (bt *Batch) ReadUint64(off int64) (uint64, error) {
	b, err := bt.get(off, 8)
	if err != nil {
		return 0, err
	}
	return bt.v.uint64(b), nil
}

// WriteUint64 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteUint64(off int64, x uint64) error {
	b := bt.tmp[:8]
	bt.v.putUint64(b, x)
	return bt.put(off, b)
}

// ReadInt64 returns the int64 at offset off, in the accessor's byte order.
func (bt *Batch) ReadInt64(off int64) (int64, error) {
	b, err := bt.get(off, 8)
	if err != nil {
		return 0, err
	}
	return int64(bt.v.uint64(b)), nil
}

// WriteInt64 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteInt64(off int64, x int64) error {
	b := bt.tmp[:8]
	bt.v.putUint64(b, uint64(x))
	return bt.put(off, b)
}

// ReadFloat32 returns the float32 at offset off, in the accessor's byte order.
func (bt *Batch) ReadFloat32(off int64) (float32, error) {
	b, err := bt.get(off, 4)
	if err != nil {
		return 0, err
	}
	return math.Float32frombits(bt.v.uint32(b)), nil
}

// WriteFloat32 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteFloat32(off int64, x float32) error {
	b := bt.tmp[:4]
	bt.v.putUint32(b, math.Float32bits(x))
	return bt.put(off, b)
}

// ReadFloat64 returns the float64 at offset off, in the accessor's byte order.
func (bt *Batch) ReadFloat64(off int64) (float64, error) {
	b, err := bt.get(off, 8)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(bt.v.uint64(b)), nil
}

// WriteFloat64 stores x at offset off, in the accessor's byte order.
func (bt *Batch) WriteFloat64(off int64, x float64) error {
	b := bt.tmp[:8]
	bt.v.putUint64(b, math.Float64bits(x))
	return bt.put(off, b)
}
