package accessor

// This file holds the one implementation of the slice calls, for every
// type: the bulk calls (ReadNames, WriteNames) and the gather and scatter
// calls (ReadNamesAt, WriteNamesAt), whose per-type methods in bulk_gen.go
// and gather_gen.go only name the type.
//
// A value's bytes in memory are its encoding in the machine's byte order.
// So in the accessor's order when that is the machine's (little endian on
// every platform Go runs on but a few), values move between the mapping and
// the caller's slice with no buffer and no conversion; in another order the
// bytes are converted in place (reading) or in a stack buffer (writing,
// which must not change the caller's slice).

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// value is a type of the slice calls.
type value interface {
	uint16 | uint32 | uint64 | float32 | float64
}

// sizeOf is the size in bytes of a T.
func sizeOf[T value]() int {
	var x T
	return int(unsafe.Sizeof(x))
}

// rawBytes returns the memory of s as bytes. A value has no padding and no
// pointers, so its bytes are its encoding in the machine's byte order.
func rawBytes[T value](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*sizeOf[T]())
}

// native reports whether the accessor's byte order is the machine's.
func (v *ViewAccessor) native() bool {
	return v.kind == littleEndian && !nativeBig || v.kind == bigEndian && nativeBig
}

// toNative converts b, values of size bytes each in the accessor's byte
// order, to the machine's order, in place.
func (v *ViewAccessor) toNative(b []byte, size int) {
	switch {
	case v.native():
	case v.kind != customOrder:
		reverseEach(b, size) // the other of the two fixed orders
	default:
		// Through a heap copy, so that b, which may be the caller's
		// stack memory, never escapes into the interface's calls.
		t := make([]byte, len(b))
		copy(t, b)
		ne := binary.NativeEndian
		for i := 0; i+size <= len(b); i += size {
			switch size {
			case 2:
				ne.PutUint16(b[i:], v.custom.Uint16(t[i:]))
			case 4:
				ne.PutUint32(b[i:], v.custom.Uint32(t[i:]))
			case 8:
				ne.PutUint64(b[i:], v.custom.Uint64(t[i:]))
			}
		}
	}
}

// fromNative is the inverse of toNative.
func (v *ViewAccessor) fromNative(b []byte, size int) {
	switch {
	case v.native():
	case v.kind != customOrder:
		reverseEach(b, size)
	default:
		t := make([]byte, len(b))
		ne := binary.NativeEndian
		for i := 0; i+size <= len(b); i += size {
			switch size {
			case 2:
				v.custom.PutUint16(t[i:], ne.Uint16(b[i:]))
			case 4:
				v.custom.PutUint32(t[i:], ne.Uint32(b[i:]))
			case 8:
				v.custom.PutUint64(t[i:], ne.Uint64(b[i:]))
			}
		}
		copy(b, t)
	}
}

// reverseEach reverses the bytes of each size-byte value of b. The loops
// take four values a step: with constant indexes the compiler drops the
// bounds checks it cannot drop otherwise, which makes them half again as
// fast as one value a step (measured on amd64 with Go 1.26).
func reverseEach(b []byte, size int) {
	ne := binary.NativeEndian
	switch size {
	case 2:
		for ; len(b) >= 8; b = b[8:] {
			x0, x1, x2, x3 := ne.Uint16(b[0:2]), ne.Uint16(b[2:4]), ne.Uint16(b[4:6]), ne.Uint16(b[6:8])
			ne.PutUint16(b[0:2], bits.ReverseBytes16(x0))
			ne.PutUint16(b[2:4], bits.ReverseBytes16(x1))
			ne.PutUint16(b[4:6], bits.ReverseBytes16(x2))
			ne.PutUint16(b[6:8], bits.ReverseBytes16(x3))
		}
		for ; len(b) >= 2; b = b[2:] {
			ne.PutUint16(b, bits.ReverseBytes16(ne.Uint16(b)))
		}
	case 4:
		for ; len(b) >= 16; b = b[16:] {
			x0, x1, x2, x3 := ne.Uint32(b[0:4]), ne.Uint32(b[4:8]), ne.Uint32(b[8:12]), ne.Uint32(b[12:16])
			ne.PutUint32(b[0:4], bits.ReverseBytes32(x0))
			ne.PutUint32(b[4:8], bits.ReverseBytes32(x1))
			ne.PutUint32(b[8:12], bits.ReverseBytes32(x2))
			ne.PutUint32(b[12:16], bits.ReverseBytes32(x3))
		}
		for ; len(b) >= 4; b = b[4:] {
			ne.PutUint32(b, bits.ReverseBytes32(ne.Uint32(b)))
		}
	case 8:
		for ; len(b) >= 32; b = b[32:] {
			x0, x1, x2, x3 := ne.Uint64(b[0:8]), ne.Uint64(b[8:16]), ne.Uint64(b[16:24]), ne.Uint64(b[24:32])
			ne.PutUint64(b[0:8], bits.ReverseBytes64(x0))
			ne.PutUint64(b[8:16], bits.ReverseBytes64(x1))
			ne.PutUint64(b[16:24], bits.ReverseBytes64(x2))
			ne.PutUint64(b[24:32], bits.ReverseBytes64(x3))
		}
		for ; len(b) >= 8; b = b[8:] {
			ne.PutUint64(b, bits.ReverseBytes64(ne.Uint64(b)))
		}
	}
}

// readValues is ReadNames: one ReadAt of the whole range straight into dst,
// converted in place.
func readValues[T value](v *ViewAccessor, op string, off int64, dst []T) error {
	size := sizeOf[T]()
	n, err := v.checkRead(op, off, len(dst), size)
	if err != nil || n == 0 {
		return err
	}
	b := rawBytes(dst)
	err = v.readPiece(op, b, off, 0, n)
	v.toNative(b, size) // also after an error: dst holds values, or what it held
	return err
}

// writeValues is WriteNames: src's own bytes in the machine's order, or in
// another order through a stack buffer, bulkBuf bytes a WriteAt.
func writeValues[T value](v *ViewAccessor, op string, off int64, src []T) error {
	size := sizeOf[T]()
	n, err := v.checkWrite(op, off, len(src), size)
	if err != nil || n == 0 {
		return err
	}
	raw := rawBytes(src)
	if v.native() {
		// In pieces, as in another order: one WriteAt of 64 KiB or
		// more would take pwrite, slower than stores into a chunk that
		// is mapped already.
		for i := 0; i < len(raw); i += bulkBuf {
			if err := v.write(raw[i:min(i+bulkBuf, len(raw))], off+int64(i)); err != nil {
				return err
			}
		}
		return nil
	}
	if n <= smallBuf {
		var buf [smallBuf]byte
		b := buf[:copy(buf[:], raw)]
		v.fromNative(b, size)
		return v.write(b, off)
	}
	var buf [bulkBuf]byte
	for i := 0; i < len(raw); i += bulkBuf {
		b := buf[:copy(buf[:], raw[i:])]
		v.fromNative(b, size)
		if err := v.write(b, off+int64(i)); err != nil {
			return err
		}
	}
	return nil
}

// gatherValues is ReadNamesAt.
func gatherValues[T value](v *ViewAccessor, op string, offs []int64, dst []T) error {
	if len(dst) < len(offs) {
		return shortValues(op, len(offs), len(dst))
	}
	size := sizeOf[T]()
	b := rawBytes(dst[:len(offs)])
	err := v.m.Gather(b, offs, size)
	v.toNative(b, size) // also after an error, for the values before it
	return err
}

// scatterValues is WriteNamesAt.
func scatterValues[T value](v *ViewAccessor, op string, offs []int64, src []T) error {
	if len(src) < len(offs) {
		return shortValues(op, len(offs), len(src))
	}
	size := sizeOf[T]()
	raw := rawBytes(src[:len(offs)])
	if v.native() {
		return v.m.Scatter(raw, offs, size)
	}
	var buf [gatherStep * 8]byte
	for i := 0; i < len(offs); i += gatherStep {
		k := min(gatherStep, len(offs)-i)
		b := buf[:copy(buf[:k*size], raw[i*size:])]
		v.fromNative(b, size)
		if err := v.m.Scatter(b, offs[i:i+k], size); err != nil {
			return err
		}
	}
	return nil
}
