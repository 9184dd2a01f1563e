package accessor

// This file holds the one implementation of the typed calls, for every
// type: the single-value reads and writes (ReadName, WriteName), the bulk
// calls (ReadNames, WriteNames) and the gather and scatter calls
// (ReadNamesAt, WriteNamesAt), whose per-type methods in typed_gen.go,
// bulk_gen.go and gather_gen.go only name the type.
//
// A value's bytes in memory are its encoding in the machine's byte order.
// So in the accessor's order when that is the machine's (little endian on
// every platform Go runs on but a few), values move between the mapping and
// the caller's slice with no buffer and no conversion. In another order a
// bulk read converts the values it read in place; a gather goes through a
// stack buffer, so that a failure leaves each value converted or as it was;
// writes convert in a stack buffer, because they must not change the
// caller's slice.

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/chunkmap/chunkmap"
)

// value is a type of the typed calls.
type value interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64 | int64 | float32 | float64
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

// toNative converts b, values of size bytes each in the accessor's byte
// order, to the machine's order, in place.
func (v *ViewAccessor) toNative(b []byte, size int) {
	switch {
	case v.native:
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
	case v.native:
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

// copyValues copies src to dst, one of them the caller's slice of values
// and the other a buffer of the accessor's, under a fault guard: the
// caller's memory may fault when touched (a mapping of a file that another
// program cut, the bytes of a released View), which in the native order,
// where the caller's slice goes to the Manager's WriteAt, Gather or Scatter
// as it is, is the error they return for such a buffer, ErrIO matching
// EFAULT, as pread and pwrite do. A plain copy would kill the process
// instead. It returns that error, or nil.
func copyValues(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(interface {
				runtime.Error
				Addr() uintptr
			})
			if !ok {
				panic(r) // not a fault: a bug, which goes on
			}
			err = fmt.Errorf("%w: the buffer passed faulted at address %#x: %w", chunkmap.ErrIO, f.Addr(), syscall.EFAULT)
		}
	}()
	copy(dst, src)
	return nil
}

// reverseEach reverses the bytes of each size-byte value of b, which is
// aligned for them (the caller's slice of values, or an aligned buffer).
func reverseEach(b []byte, size int) {
	p := unsafe.Pointer(unsafe.SliceData(b))
	switch size {
	case 2:
		reverseWords(unsafe.Slice((*uint16)(p), len(b)/2))
	case 4:
		reverseWords(unsafe.Slice((*uint32)(p), len(b)/4))
	case 8:
		reverseWords(unsafe.Slice((*uint64)(p), len(b)/8))
	}
}

// reverseWords reverses the bytes of each word of s. (The size is a
// constant in each instantiation, so one case of the switch remains, and a
// range over s needs no bounds checks.)
func reverseWords[W uint16 | uint32 | uint64](s []W) {
	for i, x := range s {
		switch unsafe.Sizeof(x) {
		case 2:
			s[i] = W(bits.ReverseBytes16(uint16(x)))
		case 4:
			s[i] = W(bits.ReverseBytes32(uint32(x)))
		default:
			s[i] = W(bits.ReverseBytes64(uint64(x)))
		}
	}
}

// readValue is ReadName: the value's bytes are read into an aligned word,
// converted to the machine's order in place and loaded as a T.
func readValue[T value](v *ViewAccessor, off int64) (T, error) {
	var w uint64
	n := sizeOf[T]()
	b := (*[8]byte)(unsafe.Pointer(&w))[:n:n]
	if _, err := v.mgr().ReadAt(b, off); err != nil {
		// The name is made here, off the hit path, where passing it
		// in would cost every call two spills.
		return 0, v.readErr(fmt.Sprintf("read %T", T(0)), err, off, n)
	}
	if n > 1 && !v.native {
		// The fixed orders inline (n is a constant here), the custom
		// order's conversion is a call.
		if v.kind != customOrder {
			reverseWord(&w, n)
		} else {
			v.toNative(b, n)
		}
	}
	return *(*T)(unsafe.Pointer(&w)), nil
}

// writeValue is WriteName, the inverse of readValue.
func writeValue[T value](v *ViewAccessor, off int64, x T) error {
	var w uint64
	*(*T)(unsafe.Pointer(&w)) = x
	n := sizeOf[T]()
	b := (*[8]byte)(unsafe.Pointer(&w))[:n:n]
	if n > 1 && !v.native {
		if v.kind != customOrder {
			reverseWord(&w, n)
		} else {
			v.fromNative(b, n)
		}
	}
	if err := v.write(b, off); err != nil {
		return v.restate(fmt.Sprintf("write %T", T(0)), off, int64(n), err)
	}
	return nil
}

// reverseWord reverses the bytes of the n-byte value at the start of *w.
func reverseWord(w *uint64, n int) {
	switch n {
	case 2:
		p := (*uint16)(unsafe.Pointer(w))
		*p = bits.ReverseBytes16(*p)
	case 4:
		p := (*uint32)(unsafe.Pointer(w))
		*p = bits.ReverseBytes32(*p)
	case 8:
		*w = bits.ReverseBytes64(*w)
	}
}

// readValues is ReadNames: one ReadAt of the whole range straight into dst,
// converted in place.
func readValues[T value](v *ViewAccessor, op string, off int64, dst []T) error {
	size := sizeOf[T]()
	n := int64(len(dst)) * int64(size)
	// A range within [Start, Size) needs none of checkRead's other
	// checks: its empty ReadAt would only report a closed Manager, which
	// the ReadAt below reports as well, having read nothing. Skipping it
	// spares a short call a third of its cost.
	if n <= 0 || off < v.mgr().Start() || n > v.mgr().Size()-off {
		var err error
		if n, err = v.checkRead(op, off, len(dst), size); err != nil || n == 0 {
			return err
		}
	}
	b := rawBytes(dst)
	k, err := v.mgr().ReadAt(b, off)
	// Only the whole values read are converted: after an error the rest
	// of dst is what ReadAt left there.
	v.toNative(b[:k/size*size], size)
	switch {
	case err == io.EOF:
		err = v.pastSize(op, off, n) // Size shrank since the check
	case err != nil:
		// A fault, or Start moved or the Manager closed since the
		// check: named as this call, not as the ReadAt underneath.
		err = v.restate(op, off, n, err)
	}
	return err
}

// writeValues is WriteNames: src's own bytes in the machine's order, or in
// another order through a stack buffer, bulkBuf bytes a WriteAt.
func writeValues[T value](v *ViewAccessor, op string, off int64, src []T) error {
	size := sizeOf[T]()
	n := int64(len(src)) * int64(size)
	// In the machine's order the first piece's WriteAt, before it reads
	// src, reports what checkWrite's empty one would (a closed or
	// read-only Manager, a failed Sync), restated alike below: only an
	// empty call, a negative offset and an end past MaxInt64, which the
	// pieces would not see as a whole, need the check. It costs a short
	// call a third of its time. (In another order src is copied first.)
	if !v.native || n == 0 || off < 0 || n > maxOffset-off {
		var err error
		if n, err = v.checkWrite(op, off, len(src), size); err != nil || n == 0 {
			return err
		}
	}
	raw := rawBytes(src)
	// A piece that fails (a fault, no space, Start moved or the Manager
	// closed since the check) fails the call, named as the call and not
	// as the piece's WriteAt, whose extent the caller never asked for.
	if v.native {
		// In pieces, as in another order: one WriteAt of 64 KiB or
		// more would take pwrite, slower than stores into a chunk that
		// is mapped already.
		for i := 0; i < len(raw); i += bulkBuf {
			if err := v.write(raw[i:min(i+bulkBuf, len(raw))], off+int64(i)); err != nil {
				return v.restate(op, off, n, err)
			}
		}
		return nil
	}
	if n <= smallBuf {
		var words [smallBuf / 8]uint64 // aligned for any value
		b := rawBytes(words[:])[:len(raw)]
		if err := copyValues(b, raw); err != nil {
			return v.restate(op, off, n, err)
		}
		v.fromNative(b, size)
		if err := v.write(b, off); err != nil {
			return v.restate(op, off, n, err)
		}
		return nil
	}
	var words [bulkBuf / 8]uint64
	buf := rawBytes(words[:])
	for i := 0; i < len(raw); i += bulkBuf {
		b := buf[:min(len(buf), len(raw)-i)]
		if err := copyValues(b, raw[i:]); err != nil {
			return v.restate(op, off, n, err)
		}
		v.fromNative(b, size)
		if err := v.write(b, off+int64(i)); err != nil {
			return v.restate(op, off, n, err)
		}
	}
	return nil
}

// gatherValues is ReadNamesAt.
func gatherValues[T value](v *ViewAccessor, op string, offs []int64, dst []T) error {
	if len(dst) < len(offs) {
		return v.shortValues(op, false, offs, sizeOf[T](), len(dst))
	}
	size := sizeOf[T]()
	if v.native || len(offs) == 0 {
		// No values still go through Gather, which reports a closed
		// Manager as every call does; the loop below would not call it.
		return v.mgr().Gather(rawBytes(dst[:len(offs)]), offs, size)
	}
	// In another order the values come through a buffer, a piece at a
	// time, so that after an error each value of dst is either converted
	// or as it was: a piece that fails is gathered again a value at a
	// time, up to the value that fails.
	var words [gatherStep]uint64
	buf := rawBytes(words[:])
	for i := 0; i < len(offs); i += gatherStep {
		k := min(gatherStep, len(offs)-i)
		b := buf[:k*size]
		if err := v.mgr().Gather(b, offs[i:i+k], size); err != nil {
			for j := range k {
				if err := v.mgr().Gather(b[:size], offs[i+j:i+j+1], size); err != nil {
					return err
				}
				v.toNative(b[:size], size)
				if err := copyValues(rawBytes(dst[i+j:i+j+1]), b[:size]); err != nil {
					return v.bufferFault(op, offs, i+j, i+j+1, size, err)
				}
			}
			continue // the failure passed (a concurrent Truncate undone, say)
		}
		v.toNative(b, size)
		if err := copyValues(rawBytes(dst[i:i+k]), b); err != nil {
			return v.bufferFault(op, offs, i, i+k, size, err)
		}
	}
	return nil
}

// scatterValues is WriteNamesAt.
func scatterValues[T value](v *ViewAccessor, op string, offs []int64, src []T) error {
	if len(src) < len(offs) {
		return v.shortValues(op, true, offs, sizeOf[T](), len(src))
	}
	size := sizeOf[T]()
	raw := rawBytes(src[:len(offs)])
	if v.native || len(offs) == 0 {
		// No values still go through Scatter, which reports a closed or
		// read-only Manager; the loop below would not call it.
		return v.mgr().Scatter(raw, offs, size)
	}
	var words [gatherStep]uint64
	buf := rawBytes(words[:])
	for i := 0; i < len(offs); i += gatherStep {
		k := min(gatherStep, len(offs)-i)
		b := buf[:k*size]
		if err := copyValues(b, raw[i*size:]); err != nil {
			return v.bufferFault(op, offs, i, i+k, size, err)
		}
		v.fromNative(b, size)
		if err := v.mgr().Scatter(b, offs[i:i+k], size); err != nil {
			return err
		}
	}
	return nil
}
