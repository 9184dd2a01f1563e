package chunkmap_test

// Tables of the accessor's typed, bulk and scan calls, so that a stormy
// goroutine can pick any of them at random and compare the bytes they
// moved with its model.

import (
	"encoding/binary"
	"iter"
	"math"
	"math/rand/v2"

	"github.com/chunkmap/chunkmap/accessor"
)

// stormyTyped is one fixed-size type of the accessor: its single-value calls
// on a ViewAccessor and on an accessor.Batch, all moving the value's bits as
// a uint64.
type stormyTyped struct {
	name   string
	size   int64
	float  bool
	write  func(v *accessor.ViewAccessor, off int64, x uint64) error
	read   func(v *accessor.ViewAccessor, off int64) (uint64, error)
	bwrite func(b *accessor.Batch, off int64, x uint64) error
	bread  func(b *accessor.Batch, off int64) (uint64, error)
}

// gen returns random bits for a value of the type (a finite number for
// floats, so that no NaN payload is in question).
func (ty *stormyTyped) gen(rng *rand.Rand) uint64 {
	if ty.float {
		if ty.size == 4 {
			return uint64(math.Float32bits(float32(rng.NormFloat64())))
		}
		return math.Float64bits(rng.NormFloat64())
	}
	return rng.Uint64()
}

// stormyNum is every type the accessor reads and writes.
type stormyNum interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64 | int64 | float32 | float64
}

// stormyBits returns the bits of y as a uint64 (a signed value's bits
// without sign extension).
func stormyBits[T stormyNum](y T) uint64 {
	switch y := any(y).(type) {
	case float32:
		return uint64(math.Float32bits(y))
	case float64:
		return math.Float64bits(y)
	case int8:
		return uint64(uint8(y))
	case int16:
		return uint64(uint16(y))
	case int32:
		return uint64(uint32(y))
	}
	return uint64(y)
}

// stormyFromBits is the inverse of stormyBits: the value of type T whose
// bits are the low bits of x.
func stormyFromBits[T stormyNum](x uint64) T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(math.Float32frombits(uint32(x))).(T)
	case float64:
		return any(math.Float64frombits(x)).(T)
	}
	return T(x)
}

// stormyTypeOf describes a type T and its value size, and whether it is a
// float.
func stormyTypeOf[T stormyNum]() (size int64, float bool) {
	var z T
	_, f32 := any(z).(float32)
	_, f64 := any(z).(float64)
	return int64(binary.Size(z)), f32 || f64
}

type (
	stormyVA = accessor.ViewAccessor
	stormyBt = accessor.Batch
)

// stormyType makes the table entry of type T from its four calls.
func stormyType[T stormyNum](name string,
	write func(*stormyVA, int64, T) error, read func(*stormyVA, int64) (T, error),
	bwrite func(*stormyBt, int64, T) error, bread func(*stormyBt, int64) (T, error),
) stormyTyped {
	size, float := stormyTypeOf[T]()
	return stormyTyped{name, size, float,
		func(v *stormyVA, off int64, x uint64) error { return write(v, off, stormyFromBits[T](x)) },
		func(v *stormyVA, off int64) (uint64, error) {
			y, err := read(v, off)
			return stormyBits(y), err
		},
		func(b *stormyBt, off int64, x uint64) error { return bwrite(b, off, stormyFromBits[T](x)) },
		func(b *stormyBt, off int64) (uint64, error) {
			y, err := bread(b, off)
			return stormyBits(y), err
		}}
}

var stormyTypes = []stormyTyped{
	stormyType("uint8", (*stormyVA).WriteUint8, (*stormyVA).ReadUint8, (*stormyBt).WriteUint8, (*stormyBt).ReadUint8),
	stormyType("int8", (*stormyVA).WriteInt8, (*stormyVA).ReadInt8, (*stormyBt).WriteInt8, (*stormyBt).ReadInt8),
	stormyType("uint16", (*stormyVA).WriteUint16, (*stormyVA).ReadUint16, (*stormyBt).WriteUint16, (*stormyBt).ReadUint16),
	stormyType("int16", (*stormyVA).WriteInt16, (*stormyVA).ReadInt16, (*stormyBt).WriteInt16, (*stormyBt).ReadInt16),
	stormyType("uint32", (*stormyVA).WriteUint32, (*stormyVA).ReadUint32, (*stormyBt).WriteUint32, (*stormyBt).ReadUint32),
	stormyType("int32", (*stormyVA).WriteInt32, (*stormyVA).ReadInt32, (*stormyBt).WriteInt32, (*stormyBt).ReadInt32),
	stormyType("float32", (*stormyVA).WriteFloat32, (*stormyVA).ReadFloat32, (*stormyBt).WriteFloat32, (*stormyBt).ReadFloat32),
	stormyType("uint64", (*stormyVA).WriteUint64, (*stormyVA).ReadUint64, (*stormyBt).WriteUint64, (*stormyBt).ReadUint64),
	stormyType("int64", (*stormyVA).WriteInt64, (*stormyVA).ReadInt64, (*stormyBt).WriteInt64, (*stormyBt).ReadInt64),
	stormyType("float64", (*stormyVA).WriteFloat64, (*stormyVA).ReadFloat64, (*stormyBt).WriteFloat64, (*stormyBt).ReadFloat64),
}

// stormyBulk is one of the accessor's bulk slice calls. read fills its dst
// with marker before the call and returns dst's bits after it, so that a
// caller can tell a dst the call left untouched.
type stormyBulk struct {
	name  string
	size  int64
	float bool
	write func(v *accessor.ViewAccessor, off int64, xs []uint64) error
	read  func(v *accessor.ViewAccessor, off int64, n int, marker uint64) ([]uint64, error)
}

func (bk *stormyBulk) gen(rng *rand.Rand, n int) []uint64 {
	ty := stormyTyped{size: bk.size, float: bk.float}
	xs := make([]uint64, n)
	for i := range xs {
		xs[i] = ty.gen(rng)
		switch bk.size {
		case 2:
			xs[i] = uint64(uint16(xs[i]))
		case 4:
			xs[i] = uint64(uint32(xs[i]))
		}
	}
	return xs
}

// stormyBulkOf makes the table entry of the bulk calls of type T.
func stormyBulkOf[T stormyNum](name string, write, read func(*stormyVA, int64, []T) error) stormyBulk {
	size, float := stormyTypeOf[T]()
	return stormyBulk{name, size, float,
		func(v *stormyVA, off int64, xs []uint64) error {
			src := make([]T, len(xs))
			for i, x := range xs {
				src[i] = stormyFromBits[T](x)
			}
			return write(v, off, src)
		},
		func(v *stormyVA, off int64, n int, marker uint64) ([]uint64, error) {
			dst := make([]T, n)
			for i := range dst {
				dst[i] = stormyFromBits[T](marker)
			}
			err := read(v, off, dst)
			out := make([]uint64, n)
			for i, y := range dst {
				out[i] = stormyBits(y)
			}
			return out, err
		}}
}

var stormyBulks = []stormyBulk{
	stormyBulkOf("uint64s", (*stormyVA).WriteUint64s, (*stormyVA).ReadUint64s),
	stormyBulkOf("float64s", (*stormyVA).WriteFloat64s, (*stormyVA).ReadFloat64s),
	stormyBulkOf("uint32s", (*stormyVA).WriteUint32s, (*stormyVA).ReadUint32s),
	stormyBulkOf("float32s", (*stormyVA).WriteFloat32s, (*stormyVA).ReadFloat32s),
	stormyBulkOf("uint16s", (*stormyVA).WriteUint16s, (*stormyVA).ReadUint16s),
}

// stormyScanT is one of a Scanner's typed iterators, driven through f with
// each value's bits; f returning false breaks the loop.
type stormyScanT struct {
	name string
	size int64
	scan func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool)
}

// stormyScanOf makes the table entry of a Scanner's iterator of type T.
func stormyScanOf[T stormyNum](name string, seq func(*accessor.Scanner, int64, int) iter.Seq2[int64, T]) stormyScanT {
	size, _ := stormyTypeOf[T]()
	return stormyScanT{name, size, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range seq(s, off, n) {
			if !f(o, stormyBits(x)) {
				break
			}
		}
	}}
}

var stormyScans = []stormyScanT{
	stormyScanOf("Uint64s", (*accessor.Scanner).Uint64s),
	stormyScanOf("Int64s", (*accessor.Scanner).Int64s),
	stormyScanOf("Float64s", (*accessor.Scanner).Float64s),
	stormyScanOf("Uint32s", (*accessor.Scanner).Uint32s),
	stormyScanOf("Int32s", (*accessor.Scanner).Int32s),
	stormyScanOf("Float32s", (*accessor.Scanner).Float32s),
	stormyScanOf("Uint16s", (*accessor.Scanner).Uint16s),
	stormyScanOf("Int16s", (*accessor.Scanner).Int16s),
}
