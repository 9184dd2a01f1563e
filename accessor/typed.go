package accessor

// This file holds the typed single-value reads and writes. They all have one
// shape, so that a reviewer can check them line by line: a stack buffer the
// size of the value, the Manager's ReadAt or WriteAt (whose hit path takes no
// lock and is fault guarded, and which assembles a value that straddles a
// chunk boundary from both chunks), and the byte order's encoding.

import (
	"encoding/binary"
	"io"
	"math"
)

// readErr is the error of the typed read op of n bytes at off whose ReadAt
// failed with err. ReadAt reports a read past Size with io.EOF, as
// io.ReaderAt must; a typed read reports it with ErrOutOfRange, because a
// value cut short is not a value. (ReadAt is called directly by each method,
// not through a helper, to keep a call off the hit path.)
func (v *ViewAccessor) readErr(op string, err error, off int64, n int) error {
	if err == io.EOF {
		return v.pastSize(op, off, int64(n))
	}
	return err
}

// write stores b at offset off.
func (v *ViewAccessor) write(b []byte, off int64) error {
	_, err := v.m.WriteAt(b, off)
	return err
}

// ReadUint8 returns the uint8 at offset off. If [off, off+1) is not wholly
// inside [Start, Size) it returns an error matching
// [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadUint8(off int64) (uint8, error) {
	var b [1]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read uint8", err, off, len(b))
	}
	return b[0], nil
}

// WriteUint8 stores x at offset off. It extends Size, as WriteAt does, to
// off+1 if that is past it. After an error other than ErrOutOfRange,
// ErrReadOnly or ErrClosed (ErrFault, or a chunk that could not be mapped)
// the value may be partly written.
func (v *ViewAccessor) WriteUint8(off int64, x uint8) error {
	var b [1]byte
	b[0] = x
	return v.write(b[:], off)
}

// ReadInt8 returns the int8 at offset off. If [off, off+1) is not wholly
// inside [Start, Size) it returns an error matching
// [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadInt8(off int64) (int8, error) {
	var b [1]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read int8", err, off, len(b))
	}
	return int8(b[0]), nil
}

// WriteInt8 stores x at offset off. It extends Size, as WriteAt does, to
// off+1 if that is past it. After an error other than ErrOutOfRange,
// ErrReadOnly or ErrClosed (ErrFault, or a chunk that could not be mapped)
// the value may be partly written.
func (v *ViewAccessor) WriteInt8(off int64, x int8) error {
	var b [1]byte
	b[0] = uint8(x)
	return v.write(b[:], off)
}

// ReadUint16 returns the uint16 at offset off, in the accessor's byte order.
// If [off, off+2) is not wholly inside [Start, Size) it returns an error
// matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadUint16(off int64) (uint16, error) {
	var b [2]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read uint16", err, off, len(b))
	}
	return v.uint16(b[:]), nil
}

// WriteUint16 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+2 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteUint16(off int64, x uint16) error {
	var b [2]byte
	v.putUint16(b[:], x)
	return v.write(b[:], off)
}

// ReadInt16 returns the int16 at offset off, in the accessor's byte order.
// If [off, off+2) is not wholly inside [Start, Size) it returns an error
// matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadInt16(off int64) (int16, error) {
	var b [2]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read int16", err, off, len(b))
	}
	return int16(v.uint16(b[:])), nil
}

// WriteInt16 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+2 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteInt16(off int64, x int16) error {
	var b [2]byte
	v.putUint16(b[:], uint16(x))
	return v.write(b[:], off)
}

// ReadUint32 returns the uint32 at offset off, in the accessor's byte order.
// If [off, off+4) is not wholly inside [Start, Size) it returns an error
// matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadUint32(off int64) (uint32, error) {
	var b [4]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read uint32", err, off, len(b))
	}
	return v.uint32(b[:]), nil
}

// WriteUint32 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+4 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteUint32(off int64, x uint32) error {
	var b [4]byte
	v.putUint32(b[:], x)
	return v.write(b[:], off)
}

// ReadInt32 returns the int32 at offset off, in the accessor's byte order.
// If [off, off+4) is not wholly inside [Start, Size) it returns an error
// matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadInt32(off int64) (int32, error) {
	var b [4]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read int32", err, off, len(b))
	}
	return int32(v.uint32(b[:])), nil
}

// WriteInt32 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+4 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteInt32(off int64, x int32) error {
	var b [4]byte
	v.putUint32(b[:], uint32(x))
	return v.write(b[:], off)
}

// ReadUint64 returns the uint64 at offset off, in the accessor's byte order.
// If [off, off+8) is not wholly inside [Start, Size) it returns an error
// matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadUint64(off int64) (uint64, error) {
	var b [8]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read uint64", err, off, len(b))
	}
	return v.uint64(b[:]), nil
}

// WriteUint64 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+8 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteUint64(off int64, x uint64) error {
	var b [8]byte
	v.putUint64(b[:], x)
	return v.write(b[:], off)
}

// ReadInt64 returns the int64 at offset off, in the accessor's byte order.
// If [off, off+8) is not wholly inside [Start, Size) it returns an error
// matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadInt64(off int64) (int64, error) {
	var b [8]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read int64", err, off, len(b))
	}
	return int64(v.uint64(b[:])), nil
}

// WriteInt64 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+8 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteInt64(off int64, x int64) error {
	var b [8]byte
	v.putUint64(b[:], uint64(x))
	return v.write(b[:], off)
}

// ReadFloat32 returns the float32 at offset off, in the accessor's byte
// order. If [off, off+4) is not wholly inside [Start, Size) it returns an
// error matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadFloat32(off int64) (float32, error) {
	var b [4]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read float32", err, off, len(b))
	}
	return math.Float32frombits(v.uint32(b[:])), nil
}

// WriteFloat32 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+4 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteFloat32(off int64, x float32) error {
	var b [4]byte
	v.putUint32(b[:], math.Float32bits(x))
	return v.write(b[:], off)
}

// ReadFloat64 returns the float64 at offset off, in the accessor's byte
// order. If [off, off+8) is not wholly inside [Start, Size) it returns an
// error matching [chunkmap.ErrOutOfRange].
func (v *ViewAccessor) ReadFloat64(off int64) (float64, error) {
	var b [8]byte
	if _, err := v.m.ReadAt(b[:], off); err != nil {
		return 0, v.readErr("read float64", err, off, len(b))
	}
	return math.Float64frombits(v.uint64(b[:])), nil
}

// WriteFloat64 stores x at offset off, in the accessor's byte order. It
// extends Size, as WriteAt does, to off+8 if that is past it. After an error
// other than ErrOutOfRange, ErrReadOnly or ErrClosed (ErrFault, or a chunk
// that could not be mapped) the value may be partly written.
func (v *ViewAccessor) WriteFloat64(off int64, x float64) error {
	var b [8]byte
	v.putUint64(b[:], math.Float64bits(x))
	return v.write(b[:], off)
}

// The decoders and encoders below call the two standard byte orders through
// their concrete types, which the compiler inlines and which let b stay on
// the caller's stack. A custom order is an interface, and a slice passed to
// an interface method escapes, so that path copies through a heap buffer
// instead of letting the caller's buffer escape on every path.

func (v *ViewAccessor) uint16(b []byte) uint16 {
	switch v.kind {
	case littleEndian:
		return binary.LittleEndian.Uint16(b)
	case bigEndian:
		return binary.BigEndian.Uint16(b)
	}
	return v.customUint16(b)
}

//go:noinline
func (v *ViewAccessor) customUint16(b []byte) uint16 {
	t := make([]byte, 2)
	copy(t, b)
	return v.custom.Uint16(t)
}

func (v *ViewAccessor) putUint16(b []byte, x uint16) {
	switch v.kind {
	case littleEndian:
		binary.LittleEndian.PutUint16(b, x)
	case bigEndian:
		binary.BigEndian.PutUint16(b, x)
	default:
		v.customPutUint16(b, x)
	}
}

//go:noinline
func (v *ViewAccessor) customPutUint16(b []byte, x uint16) {
	t := make([]byte, 2)
	v.custom.PutUint16(t, x)
	copy(b, t)
}

func (v *ViewAccessor) uint32(b []byte) uint32 {
	switch v.kind {
	case littleEndian:
		return binary.LittleEndian.Uint32(b)
	case bigEndian:
		return binary.BigEndian.Uint32(b)
	}
	return v.customUint32(b)
}

//go:noinline
func (v *ViewAccessor) customUint32(b []byte) uint32 {
	t := make([]byte, 4)
	copy(t, b)
	return v.custom.Uint32(t)
}

func (v *ViewAccessor) putUint32(b []byte, x uint32) {
	switch v.kind {
	case littleEndian:
		binary.LittleEndian.PutUint32(b, x)
	case bigEndian:
		binary.BigEndian.PutUint32(b, x)
	default:
		v.customPutUint32(b, x)
	}
}

//go:noinline
func (v *ViewAccessor) customPutUint32(b []byte, x uint32) {
	t := make([]byte, 4)
	v.custom.PutUint32(t, x)
	copy(b, t)
}

func (v *ViewAccessor) uint64(b []byte) uint64 {
	switch v.kind {
	case littleEndian:
		return binary.LittleEndian.Uint64(b)
	case bigEndian:
		return binary.BigEndian.Uint64(b)
	}
	return v.customUint64(b)
}

//go:noinline
func (v *ViewAccessor) customUint64(b []byte) uint64 {
	t := make([]byte, 8)
	copy(t, b)
	return v.custom.Uint64(t)
}

func (v *ViewAccessor) putUint64(b []byte, x uint64) {
	switch v.kind {
	case littleEndian:
		binary.LittleEndian.PutUint64(b, x)
	case bigEndian:
		binary.BigEndian.PutUint64(b, x)
	default:
		v.customPutUint64(b, x)
	}
}

//go:noinline
func (v *ViewAccessor) customPutUint64(b []byte, x uint64) {
	t := make([]byte, 8)
	v.custom.PutUint64(t, x)
	copy(b, t)
}
