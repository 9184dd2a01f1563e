package accessor

// This file holds the bulk calls, which read or store a whole slice of
// values in one call. Bytes move between the Manager and a stack buffer in
// pieces of bulkBuf bytes, each with one call of the Manager's ReadAt or
// WriteAt, and the byte-order conversion runs over a whole piece in a loop
// the compiler inlines; no call is made per element.

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/chunkmap/chunkmap"
)

// bulkBuf is the size in bytes of the stack buffer of a bulk call: it
// amortises the cost of a Manager call (a lookup and a fault guard, about
// 10 ns) over a piece. A call of at most smallBuf bytes uses a buffer of
// that size instead, because Go zeroes a stack array where it is declared
// and zeroing 4 KiB would cost a short call more than the call itself.
const (
	bulkBuf  = 4096
	smallBuf = 128
)

// maxOffset is the largest offset a dataset may reach.
const maxOffset = 1<<63 - 1

// checkRead checks a bulk read op of count values of size bytes at off and
// returns its length in bytes. The whole range must lie within
// [Start, Size), so that an error leaves dst untouched.
func (v *ViewAccessor) checkRead(op string, off int64, count, size int) (int64, error) {
	// An empty ReadAt reports a closed Manager and a negative offset.
	if _, err := v.m.ReadAt(nil, off); err != nil {
		return 0, err
	}
	n := int64(count) * int64(size)
	if n == 0 {
		return 0, nil
	}
	switch start, end := v.m.Start(), v.m.Size(); {
	case n > maxOffset-off:
		return 0, v.rangeErr(op, off, n, "end overflows int64")
	case off < start:
		return 0, v.rangeErr(op, off, n, fmt.Sprintf("below start %d", start))
	case off+n > end:
		return 0, v.pastSize(op, off, n)
	}
	return n, nil
}

// checkWrite checks a bulk write op of count values of size bytes at off
// and returns its length in bytes.
func (v *ViewAccessor) checkWrite(op string, off int64, count, size int) (int64, error) {
	// An empty WriteAt reports a closed or read-only Manager, a failed
	// Sync and a negative offset.
	if _, err := v.m.WriteAt(nil, off); err != nil {
		return 0, err
	}
	n := int64(count) * int64(size)
	if n > maxOffset-off {
		return 0, v.rangeErr(op, off, n, "end overflows int64")
	}
	return n, nil
}

// rangeErr is the error of a bulk call op of n bytes at off outside the
// range it may touch.
func (v *ViewAccessor) rangeErr(op string, off, n int64, detail string) error {
	return fmt.Errorf("%s (%d bytes) at offset %d in %s: %w: %s",
		op, n, off, v.m.Dir(), chunkmap.ErrOutOfRange, detail)
}

// readPiece fills b from offset off+at, one piece of the bulk read op of n
// bytes at off. Size may have shrunk since checkRead.
func (v *ViewAccessor) readPiece(op string, b []byte, off, at, n int64) error {
	_, err := v.m.ReadAt(b, off+at)
	if err == io.EOF {
		return v.pastSize(op, off, n)
	}
	return err
}

// ReadUint16s fills dst with the len(dst) uint16 values stored from offset
// off on, 2 bytes each, in the accessor's byte order. The whole range [off,
// off+2*len(dst)) must lie within [Start, Size); otherwise ReadUint16s
// returns an error matching [chunkmap.ErrOutOfRange] and leaves dst
// untouched. After another error (ErrFault, a chunk that could not be
// mapped, a concurrent Truncate) dst may be partly filled. ReadUint16s does
// not retain dst.
func (v *ViewAccessor) ReadUint16s(off int64, dst []uint16) error {
	const op = "read uint16s"
	n, err := v.checkRead(op, off, len(dst), 2)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		if err := v.readPiece(op, buf[:n], off, 0, n); err != nil {
			return err
		}
		v.decodeUint16s(dst, buf[:n])
		return nil
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(dst); {
		c := min(len(dst)-i, bulkBuf/2)
		b := buf[:2*c]
		if err := v.readPiece(op, b, off, int64(2*i), n); err != nil {
			return err
		}
		v.decodeUint16s(dst[i:i+c], b)
		i += c
	}
	return nil
}

// WriteUint16s stores the values of src from offset off on, 2 bytes each, in
// the accessor's byte order. Like WriteAt it extends Size to off+2*len(src)
// if that is past it; it does so piece by piece, so Size never covers bytes
// not yet written. If it returns an error, a prefix of src may have been
// written (and Size extended over it). WriteUint16s does not retain src.
func (v *ViewAccessor) WriteUint16s(off int64, src []uint16) error {
	const op = "write uint16s"
	n, err := v.checkWrite(op, off, len(src), 2)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		v.encodeUint16s(buf[:n], src)
		return v.write(buf[:n], off)
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(src); {
		c := min(len(src)-i, bulkBuf/2)
		b := buf[:2*c]
		v.encodeUint16s(b, src[i:i+c])
		if err := v.write(b, off+int64(2*i)); err != nil {
			return err
		}
		i += c
	}
	return nil
}

// ReadUint32s fills dst with the len(dst) uint32 values stored from offset
// off on, 4 bytes each, in the accessor's byte order. The whole range [off,
// off+4*len(dst)) must lie within [Start, Size); otherwise ReadUint32s
// returns an error matching [chunkmap.ErrOutOfRange] and leaves dst
// untouched. After another error (ErrFault, a chunk that could not be
// mapped, a concurrent Truncate) dst may be partly filled. ReadUint32s does
// not retain dst.
func (v *ViewAccessor) ReadUint32s(off int64, dst []uint32) error {
	const op = "read uint32s"
	n, err := v.checkRead(op, off, len(dst), 4)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		if err := v.readPiece(op, buf[:n], off, 0, n); err != nil {
			return err
		}
		v.decodeUint32s(dst, buf[:n])
		return nil
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(dst); {
		c := min(len(dst)-i, bulkBuf/4)
		b := buf[:4*c]
		if err := v.readPiece(op, b, off, int64(4*i), n); err != nil {
			return err
		}
		v.decodeUint32s(dst[i:i+c], b)
		i += c
	}
	return nil
}

// WriteUint32s stores the values of src from offset off on, 4 bytes each, in
// the accessor's byte order. Like WriteAt it extends Size to off+4*len(src)
// if that is past it; it does so piece by piece, so Size never covers bytes
// not yet written. If it returns an error, a prefix of src may have been
// written (and Size extended over it). WriteUint32s does not retain src.
func (v *ViewAccessor) WriteUint32s(off int64, src []uint32) error {
	const op = "write uint32s"
	n, err := v.checkWrite(op, off, len(src), 4)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		v.encodeUint32s(buf[:n], src)
		return v.write(buf[:n], off)
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(src); {
		c := min(len(src)-i, bulkBuf/4)
		b := buf[:4*c]
		v.encodeUint32s(b, src[i:i+c])
		if err := v.write(b, off+int64(4*i)); err != nil {
			return err
		}
		i += c
	}
	return nil
}

// ReadUint64s fills dst with the len(dst) uint64 values stored from offset
// off on, 8 bytes each, in the accessor's byte order. The whole range [off,
// off+8*len(dst)) must lie within [Start, Size); otherwise ReadUint64s
// returns an error matching [chunkmap.ErrOutOfRange] and leaves dst
// untouched. After another error (ErrFault, a chunk that could not be
// mapped, a concurrent Truncate) dst may be partly filled. ReadUint64s does
// not retain dst.
func (v *ViewAccessor) ReadUint64s(off int64, dst []uint64) error {
	const op = "read uint64s"
	n, err := v.checkRead(op, off, len(dst), 8)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		if err := v.readPiece(op, buf[:n], off, 0, n); err != nil {
			return err
		}
		v.decodeUint64s(dst, buf[:n])
		return nil
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(dst); {
		c := min(len(dst)-i, bulkBuf/8)
		b := buf[:8*c]
		if err := v.readPiece(op, b, off, int64(8*i), n); err != nil {
			return err
		}
		v.decodeUint64s(dst[i:i+c], b)
		i += c
	}
	return nil
}

// WriteUint64s stores the values of src from offset off on, 8 bytes each, in
// the accessor's byte order. Like WriteAt it extends Size to off+8*len(src)
// if that is past it; it does so piece by piece, so Size never covers bytes
// not yet written. If it returns an error, a prefix of src may have been
// written (and Size extended over it). WriteUint64s does not retain src.
func (v *ViewAccessor) WriteUint64s(off int64, src []uint64) error {
	const op = "write uint64s"
	n, err := v.checkWrite(op, off, len(src), 8)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		v.encodeUint64s(buf[:n], src)
		return v.write(buf[:n], off)
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(src); {
		c := min(len(src)-i, bulkBuf/8)
		b := buf[:8*c]
		v.encodeUint64s(b, src[i:i+c])
		if err := v.write(b, off+int64(8*i)); err != nil {
			return err
		}
		i += c
	}
	return nil
}

// ReadFloat32s fills dst with the len(dst) float32 values stored from offset
// off on, 4 bytes each, in the accessor's byte order. The whole range [off,
// off+4*len(dst)) must lie within [Start, Size); otherwise ReadFloat32s
// returns an error matching [chunkmap.ErrOutOfRange] and leaves dst
// untouched. After another error (ErrFault, a chunk that could not be
// mapped, a concurrent Truncate) dst may be partly filled. ReadFloat32s does
// not retain dst.
func (v *ViewAccessor) ReadFloat32s(off int64, dst []float32) error {
	const op = "read float32s"
	n, err := v.checkRead(op, off, len(dst), 4)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		if err := v.readPiece(op, buf[:n], off, 0, n); err != nil {
			return err
		}
		v.decodeFloat32s(dst, buf[:n])
		return nil
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(dst); {
		c := min(len(dst)-i, bulkBuf/4)
		b := buf[:4*c]
		if err := v.readPiece(op, b, off, int64(4*i), n); err != nil {
			return err
		}
		v.decodeFloat32s(dst[i:i+c], b)
		i += c
	}
	return nil
}

// WriteFloat32s stores the values of src from offset off on, 4 bytes each,
// in the accessor's byte order. Like WriteAt it extends Size to
// off+4*len(src) if that is past it; it does so piece by piece, so Size
// never covers bytes not yet written. If it returns an error, a prefix of
// src may have been written (and Size extended over it). WriteFloat32s does
// not retain src.
func (v *ViewAccessor) WriteFloat32s(off int64, src []float32) error {
	const op = "write float32s"
	n, err := v.checkWrite(op, off, len(src), 4)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		v.encodeFloat32s(buf[:n], src)
		return v.write(buf[:n], off)
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(src); {
		c := min(len(src)-i, bulkBuf/4)
		b := buf[:4*c]
		v.encodeFloat32s(b, src[i:i+c])
		if err := v.write(b, off+int64(4*i)); err != nil {
			return err
		}
		i += c
	}
	return nil
}

// ReadFloat64s fills dst with the len(dst) float64 values stored from offset
// off on, 8 bytes each, in the accessor's byte order. The whole range [off,
// off+8*len(dst)) must lie within [Start, Size); otherwise ReadFloat64s
// returns an error matching [chunkmap.ErrOutOfRange] and leaves dst
// untouched. After another error (ErrFault, a chunk that could not be
// mapped, a concurrent Truncate) dst may be partly filled. ReadFloat64s does
// not retain dst.
func (v *ViewAccessor) ReadFloat64s(off int64, dst []float64) error {
	const op = "read float64s"
	n, err := v.checkRead(op, off, len(dst), 8)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		if err := v.readPiece(op, buf[:n], off, 0, n); err != nil {
			return err
		}
		v.decodeFloat64s(dst, buf[:n])
		return nil
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(dst); {
		c := min(len(dst)-i, bulkBuf/8)
		b := buf[:8*c]
		if err := v.readPiece(op, b, off, int64(8*i), n); err != nil {
			return err
		}
		v.decodeFloat64s(dst[i:i+c], b)
		i += c
	}
	return nil
}

// WriteFloat64s stores the values of src from offset off on, 8 bytes each,
// in the accessor's byte order. Like WriteAt it extends Size to
// off+8*len(src) if that is past it; it does so piece by piece, so Size
// never covers bytes not yet written. If it returns an error, a prefix of
// src may have been written (and Size extended over it). WriteFloat64s does
// not retain src.
func (v *ViewAccessor) WriteFloat64s(off int64, src []float64) error {
	const op = "write float64s"
	n, err := v.checkWrite(op, off, len(src), 8)
	if err != nil || n == 0 {
		return err
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		v.encodeFloat64s(buf[:n], src)
		return v.write(buf[:n], off)
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(src); {
		c := min(len(src)-i, bulkBuf/8)
		b := buf[:8*c]
		v.encodeFloat64s(b, src[i:i+c])
		if err := v.write(b, off+int64(8*i)); err != nil {
			return err
		}
		i += c
	}
	return nil
}

// The converters below follow the pattern of typed.go: concrete byte orders
// in loops the compiler inlines, and a heap copy for a custom order so that
// the caller's stack buffer never escapes. The loops convert four values a
// step: with constant indexes the compiler drops the bounds checks it cannot
// drop from b[k*i:], which makes them two to three times faster than one
// value a step (measured on amd64 with Go 1.26).

func (v *ViewAccessor) decodeUint16s(dst []uint16, b []byte) {
	switch v.kind {
	case littleEndian:
		for len(dst) >= 4 && len(b) >= 8 {
			dst[0] = binary.LittleEndian.Uint16(b[0:2])
			dst[1] = binary.LittleEndian.Uint16(b[2:4])
			dst[2] = binary.LittleEndian.Uint16(b[4:6])
			dst[3] = binary.LittleEndian.Uint16(b[6:8])
			dst, b = dst[4:], b[8:]
		}
		for i := range dst {
			dst[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	case bigEndian:
		for len(dst) >= 4 && len(b) >= 8 {
			dst[0] = binary.BigEndian.Uint16(b[0:2])
			dst[1] = binary.BigEndian.Uint16(b[2:4])
			dst[2] = binary.BigEndian.Uint16(b[4:6])
			dst[3] = binary.BigEndian.Uint16(b[6:8])
			dst, b = dst[4:], b[8:]
		}
		for i := range dst {
			dst[i] = binary.BigEndian.Uint16(b[2*i:])
		}
	default:
		t := make([]byte, len(b))
		copy(t, b)
		for i := range dst {
			dst[i] = v.custom.Uint16(t[2*i:])
		}
	}
}

func (v *ViewAccessor) encodeUint16s(b []byte, src []uint16) {
	switch v.kind {
	case littleEndian:
		for len(src) >= 4 && len(b) >= 8 {
			binary.LittleEndian.PutUint16(b[0:2], src[0])
			binary.LittleEndian.PutUint16(b[2:4], src[1])
			binary.LittleEndian.PutUint16(b[4:6], src[2])
			binary.LittleEndian.PutUint16(b[6:8], src[3])
			src, b = src[4:], b[8:]
		}
		for i, x := range src {
			binary.LittleEndian.PutUint16(b[2*i:], x)
		}
	case bigEndian:
		for len(src) >= 4 && len(b) >= 8 {
			binary.BigEndian.PutUint16(b[0:2], src[0])
			binary.BigEndian.PutUint16(b[2:4], src[1])
			binary.BigEndian.PutUint16(b[4:6], src[2])
			binary.BigEndian.PutUint16(b[6:8], src[3])
			src, b = src[4:], b[8:]
		}
		for i, x := range src {
			binary.BigEndian.PutUint16(b[2*i:], x)
		}
	default:
		t := make([]byte, len(b))
		for i, x := range src {
			v.custom.PutUint16(t[2*i:], x)
		}
		copy(b, t)
	}
}

func (v *ViewAccessor) decodeUint32s(dst []uint32, b []byte) {
	switch v.kind {
	case littleEndian:
		for len(dst) >= 4 && len(b) >= 16 {
			dst[0] = binary.LittleEndian.Uint32(b[0:4])
			dst[1] = binary.LittleEndian.Uint32(b[4:8])
			dst[2] = binary.LittleEndian.Uint32(b[8:12])
			dst[3] = binary.LittleEndian.Uint32(b[12:16])
			dst, b = dst[4:], b[16:]
		}
		for i := range dst {
			dst[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	case bigEndian:
		for len(dst) >= 4 && len(b) >= 16 {
			dst[0] = binary.BigEndian.Uint32(b[0:4])
			dst[1] = binary.BigEndian.Uint32(b[4:8])
			dst[2] = binary.BigEndian.Uint32(b[8:12])
			dst[3] = binary.BigEndian.Uint32(b[12:16])
			dst, b = dst[4:], b[16:]
		}
		for i := range dst {
			dst[i] = binary.BigEndian.Uint32(b[4*i:])
		}
	default:
		t := make([]byte, len(b))
		copy(t, b)
		for i := range dst {
			dst[i] = v.custom.Uint32(t[4*i:])
		}
	}
}

func (v *ViewAccessor) encodeUint32s(b []byte, src []uint32) {
	switch v.kind {
	case littleEndian:
		for len(src) >= 4 && len(b) >= 16 {
			binary.LittleEndian.PutUint32(b[0:4], src[0])
			binary.LittleEndian.PutUint32(b[4:8], src[1])
			binary.LittleEndian.PutUint32(b[8:12], src[2])
			binary.LittleEndian.PutUint32(b[12:16], src[3])
			src, b = src[4:], b[16:]
		}
		for i, x := range src {
			binary.LittleEndian.PutUint32(b[4*i:], x)
		}
	case bigEndian:
		for len(src) >= 4 && len(b) >= 16 {
			binary.BigEndian.PutUint32(b[0:4], src[0])
			binary.BigEndian.PutUint32(b[4:8], src[1])
			binary.BigEndian.PutUint32(b[8:12], src[2])
			binary.BigEndian.PutUint32(b[12:16], src[3])
			src, b = src[4:], b[16:]
		}
		for i, x := range src {
			binary.BigEndian.PutUint32(b[4*i:], x)
		}
	default:
		t := make([]byte, len(b))
		for i, x := range src {
			v.custom.PutUint32(t[4*i:], x)
		}
		copy(b, t)
	}
}

func (v *ViewAccessor) decodeUint64s(dst []uint64, b []byte) {
	switch v.kind {
	case littleEndian:
		for len(dst) >= 4 && len(b) >= 32 {
			dst[0] = binary.LittleEndian.Uint64(b[0:8])
			dst[1] = binary.LittleEndian.Uint64(b[8:16])
			dst[2] = binary.LittleEndian.Uint64(b[16:24])
			dst[3] = binary.LittleEndian.Uint64(b[24:32])
			dst, b = dst[4:], b[32:]
		}
		for i := range dst {
			dst[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	case bigEndian:
		for len(dst) >= 4 && len(b) >= 32 {
			dst[0] = binary.BigEndian.Uint64(b[0:8])
			dst[1] = binary.BigEndian.Uint64(b[8:16])
			dst[2] = binary.BigEndian.Uint64(b[16:24])
			dst[3] = binary.BigEndian.Uint64(b[24:32])
			dst, b = dst[4:], b[32:]
		}
		for i := range dst {
			dst[i] = binary.BigEndian.Uint64(b[8*i:])
		}
	default:
		t := make([]byte, len(b))
		copy(t, b)
		for i := range dst {
			dst[i] = v.custom.Uint64(t[8*i:])
		}
	}
}

func (v *ViewAccessor) encodeUint64s(b []byte, src []uint64) {
	switch v.kind {
	case littleEndian:
		for len(src) >= 4 && len(b) >= 32 {
			binary.LittleEndian.PutUint64(b[0:8], src[0])
			binary.LittleEndian.PutUint64(b[8:16], src[1])
			binary.LittleEndian.PutUint64(b[16:24], src[2])
			binary.LittleEndian.PutUint64(b[24:32], src[3])
			src, b = src[4:], b[32:]
		}
		for i, x := range src {
			binary.LittleEndian.PutUint64(b[8*i:], x)
		}
	case bigEndian:
		for len(src) >= 4 && len(b) >= 32 {
			binary.BigEndian.PutUint64(b[0:8], src[0])
			binary.BigEndian.PutUint64(b[8:16], src[1])
			binary.BigEndian.PutUint64(b[16:24], src[2])
			binary.BigEndian.PutUint64(b[24:32], src[3])
			src, b = src[4:], b[32:]
		}
		for i, x := range src {
			binary.BigEndian.PutUint64(b[8*i:], x)
		}
	default:
		t := make([]byte, len(b))
		for i, x := range src {
			v.custom.PutUint64(t[8*i:], x)
		}
		copy(b, t)
	}
}

func (v *ViewAccessor) decodeFloat32s(dst []float32, b []byte) {
	switch v.kind {
	case littleEndian:
		for len(dst) >= 4 && len(b) >= 16 {
			dst[0] = math.Float32frombits(binary.LittleEndian.Uint32(b[0:4]))
			dst[1] = math.Float32frombits(binary.LittleEndian.Uint32(b[4:8]))
			dst[2] = math.Float32frombits(binary.LittleEndian.Uint32(b[8:12]))
			dst[3] = math.Float32frombits(binary.LittleEndian.Uint32(b[12:16]))
			dst, b = dst[4:], b[16:]
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case bigEndian:
		for len(dst) >= 4 && len(b) >= 16 {
			dst[0] = math.Float32frombits(binary.BigEndian.Uint32(b[0:4]))
			dst[1] = math.Float32frombits(binary.BigEndian.Uint32(b[4:8]))
			dst[2] = math.Float32frombits(binary.BigEndian.Uint32(b[8:12]))
			dst[3] = math.Float32frombits(binary.BigEndian.Uint32(b[12:16]))
			dst, b = dst[4:], b[16:]
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.BigEndian.Uint32(b[4*i:]))
		}
	default:
		t := make([]byte, len(b))
		copy(t, b)
		for i := range dst {
			dst[i] = math.Float32frombits(v.custom.Uint32(t[4*i:]))
		}
	}
}

func (v *ViewAccessor) encodeFloat32s(b []byte, src []float32) {
	switch v.kind {
	case littleEndian:
		for len(src) >= 4 && len(b) >= 16 {
			binary.LittleEndian.PutUint32(b[0:4], math.Float32bits(src[0]))
			binary.LittleEndian.PutUint32(b[4:8], math.Float32bits(src[1]))
			binary.LittleEndian.PutUint32(b[8:12], math.Float32bits(src[2]))
			binary.LittleEndian.PutUint32(b[12:16], math.Float32bits(src[3]))
			src, b = src[4:], b[16:]
		}
		for i, x := range src {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	case bigEndian:
		for len(src) >= 4 && len(b) >= 16 {
			binary.BigEndian.PutUint32(b[0:4], math.Float32bits(src[0]))
			binary.BigEndian.PutUint32(b[4:8], math.Float32bits(src[1]))
			binary.BigEndian.PutUint32(b[8:12], math.Float32bits(src[2]))
			binary.BigEndian.PutUint32(b[12:16], math.Float32bits(src[3]))
			src, b = src[4:], b[16:]
		}
		for i, x := range src {
			binary.BigEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	default:
		t := make([]byte, len(b))
		for i, x := range src {
			v.custom.PutUint32(t[4*i:], math.Float32bits(x))
		}
		copy(b, t)
	}
}

func (v *ViewAccessor) decodeFloat64s(dst []float64, b []byte) {
	switch v.kind {
	case littleEndian:
		for len(dst) >= 4 && len(b) >= 32 {
			dst[0] = math.Float64frombits(binary.LittleEndian.Uint64(b[0:8]))
			dst[1] = math.Float64frombits(binary.LittleEndian.Uint64(b[8:16]))
			dst[2] = math.Float64frombits(binary.LittleEndian.Uint64(b[16:24]))
			dst[3] = math.Float64frombits(binary.LittleEndian.Uint64(b[24:32]))
			dst, b = dst[4:], b[32:]
		}
		for i := range dst {
			dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case bigEndian:
		for len(dst) >= 4 && len(b) >= 32 {
			dst[0] = math.Float64frombits(binary.BigEndian.Uint64(b[0:8]))
			dst[1] = math.Float64frombits(binary.BigEndian.Uint64(b[8:16]))
			dst[2] = math.Float64frombits(binary.BigEndian.Uint64(b[16:24]))
			dst[3] = math.Float64frombits(binary.BigEndian.Uint64(b[24:32]))
			dst, b = dst[4:], b[32:]
		}
		for i := range dst {
			dst[i] = math.Float64frombits(binary.BigEndian.Uint64(b[8*i:]))
		}
	default:
		t := make([]byte, len(b))
		copy(t, b)
		for i := range dst {
			dst[i] = math.Float64frombits(v.custom.Uint64(t[8*i:]))
		}
	}
}

func (v *ViewAccessor) encodeFloat64s(b []byte, src []float64) {
	switch v.kind {
	case littleEndian:
		for len(src) >= 4 && len(b) >= 32 {
			binary.LittleEndian.PutUint64(b[0:8], math.Float64bits(src[0]))
			binary.LittleEndian.PutUint64(b[8:16], math.Float64bits(src[1]))
			binary.LittleEndian.PutUint64(b[16:24], math.Float64bits(src[2]))
			binary.LittleEndian.PutUint64(b[24:32], math.Float64bits(src[3]))
			src, b = src[4:], b[32:]
		}
		for i, x := range src {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
	case bigEndian:
		for len(src) >= 4 && len(b) >= 32 {
			binary.BigEndian.PutUint64(b[0:8], math.Float64bits(src[0]))
			binary.BigEndian.PutUint64(b[8:16], math.Float64bits(src[1]))
			binary.BigEndian.PutUint64(b[16:24], math.Float64bits(src[2]))
			binary.BigEndian.PutUint64(b[24:32], math.Float64bits(src[3]))
			src, b = src[4:], b[32:]
		}
		for i, x := range src {
			binary.BigEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
	default:
		t := make([]byte, len(b))
		for i, x := range src {
			v.custom.PutUint64(t[8*i:], math.Float64bits(x))
		}
		copy(b, t)
	}
}
