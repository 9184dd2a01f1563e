package chunkmap_test

// Tables of the accessor's typed, bulk and scan calls, so that a stormy
// goroutine can pick any of them at random and compare the bytes they
// moved with its model.

import (
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

var stormyTypes = []stormyTyped{
	{"uint8", 1, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteUint8(off, uint8(x)) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadUint8(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint8(off, uint8(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadUint8(off); return uint64(y), err }},
	{"int8", 1, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteInt8(off, int8(x)) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadInt8(off)
			return uint64(uint8(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt8(off, int8(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadInt8(off)
			return uint64(uint8(y)), err
		}},
	{"uint16", 2, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteUint16(off, uint16(x)) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadUint16(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint16(off, uint16(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadUint16(off); return uint64(y), err }},
	{"int16", 2, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteInt16(off, int16(x)) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadInt16(off)
			return uint64(uint16(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt16(off, int16(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadInt16(off)
			return uint64(uint16(y)), err
		}},
	{"uint32", 4, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteUint32(off, uint32(x)) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadUint32(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint32(off, uint32(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadUint32(off); return uint64(y), err }},
	{"int32", 4, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteInt32(off, int32(x)) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadInt32(off)
			return uint64(uint32(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt32(off, int32(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadInt32(off)
			return uint64(uint32(y)), err
		}},
	{"float32", 4, true,
		func(v *accessor.ViewAccessor, off int64, x uint64) error {
			return v.WriteFloat32(off, math.Float32frombits(uint32(x)))
		},
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadFloat32(off)
			return uint64(math.Float32bits(y)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error {
			return b.WriteFloat32(off, math.Float32frombits(uint32(x)))
		},
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadFloat32(off)
			return uint64(math.Float32bits(y)), err
		}},
	{"uint64", 8, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteUint64(off, x) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) { return v.ReadUint64(off) },
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint64(off, x) },
		func(b *accessor.Batch, off int64) (uint64, error) { return b.ReadUint64(off) }},
	{"int64", 8, false,
		func(v *accessor.ViewAccessor, off int64, x uint64) error { return v.WriteInt64(off, int64(x)) },
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadInt64(off)
			return uint64(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt64(off, int64(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { y, err := b.ReadInt64(off); return uint64(y), err }},
	{"float64", 8, true,
		func(v *accessor.ViewAccessor, off int64, x uint64) error {
			return v.WriteFloat64(off, math.Float64frombits(x))
		},
		func(v *accessor.ViewAccessor, off int64) (uint64, error) {
			y, err := v.ReadFloat64(off)
			return math.Float64bits(y), err
		},
		func(b *accessor.Batch, off int64, x uint64) error {
			return b.WriteFloat64(off, math.Float64frombits(x))
		},
		func(b *accessor.Batch, off int64) (uint64, error) {
			y, err := b.ReadFloat64(off)
			return math.Float64bits(y), err
		}},
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

var stormyBulks = []stormyBulk{
	{"uint64s", 8, false,
		func(v *accessor.ViewAccessor, off int64, xs []uint64) error { return v.WriteUint64s(off, xs) },
		func(v *accessor.ViewAccessor, off int64, n int, marker uint64) ([]uint64, error) {
			dst := make([]uint64, n)
			for i := range dst {
				dst[i] = marker
			}
			err := v.ReadUint64s(off, dst)
			return dst, err
		}},
	{"float64s", 8, true,
		func(v *accessor.ViewAccessor, off int64, xs []uint64) error {
			src := make([]float64, len(xs))
			for i, x := range xs {
				src[i] = math.Float64frombits(x)
			}
			return v.WriteFloat64s(off, src)
		},
		func(v *accessor.ViewAccessor, off int64, n int, marker uint64) ([]uint64, error) {
			dst := make([]float64, n)
			for i := range dst {
				dst[i] = math.Float64frombits(marker)
			}
			err := v.ReadFloat64s(off, dst)
			out := make([]uint64, n)
			for i, y := range dst {
				out[i] = math.Float64bits(y)
			}
			return out, err
		}},
	{"uint32s", 4, false,
		func(v *accessor.ViewAccessor, off int64, xs []uint64) error {
			src := make([]uint32, len(xs))
			for i, x := range xs {
				src[i] = uint32(x)
			}
			return v.WriteUint32s(off, src)
		},
		func(v *accessor.ViewAccessor, off int64, n int, marker uint64) ([]uint64, error) {
			dst := make([]uint32, n)
			for i := range dst {
				dst[i] = uint32(marker)
			}
			err := v.ReadUint32s(off, dst)
			out := make([]uint64, n)
			for i, y := range dst {
				out[i] = uint64(y)
			}
			return out, err
		}},
	{"float32s", 4, true,
		func(v *accessor.ViewAccessor, off int64, xs []uint64) error {
			src := make([]float32, len(xs))
			for i, x := range xs {
				src[i] = math.Float32frombits(uint32(x))
			}
			return v.WriteFloat32s(off, src)
		},
		func(v *accessor.ViewAccessor, off int64, n int, marker uint64) ([]uint64, error) {
			dst := make([]float32, n)
			for i := range dst {
				dst[i] = math.Float32frombits(uint32(marker))
			}
			err := v.ReadFloat32s(off, dst)
			out := make([]uint64, n)
			for i, y := range dst {
				out[i] = uint64(math.Float32bits(y))
			}
			return out, err
		}},
	{"uint16s", 2, false,
		func(v *accessor.ViewAccessor, off int64, xs []uint64) error {
			src := make([]uint16, len(xs))
			for i, x := range xs {
				src[i] = uint16(x)
			}
			return v.WriteUint16s(off, src)
		},
		func(v *accessor.ViewAccessor, off int64, n int, marker uint64) ([]uint64, error) {
			dst := make([]uint16, n)
			for i := range dst {
				dst[i] = uint16(marker)
			}
			err := v.ReadUint16s(off, dst)
			out := make([]uint64, n)
			for i, y := range dst {
				out[i] = uint64(y)
			}
			return out, err
		}},
}

// stormyScanT is one of a Scanner's typed iterators, driven through f with
// each value's bits; f returning false breaks the loop.
type stormyScanT struct {
	name string
	size int64
	scan func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool)
}

var stormyScans = []stormyScanT{
	{"Uint64s", 8, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Uint64s(off, n) {
			if !f(o, x) {
				break
			}
		}
	}},
	{"Int64s", 8, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Int64s(off, n) {
			if !f(o, uint64(x)) {
				break
			}
		}
	}},
	{"Float64s", 8, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Float64s(off, n) {
			if !f(o, math.Float64bits(x)) {
				break
			}
		}
	}},
	{"Uint32s", 4, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Uint32s(off, n) {
			if !f(o, uint64(x)) {
				break
			}
		}
	}},
	{"Int32s", 4, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Int32s(off, n) {
			if !f(o, uint64(uint32(x))) {
				break
			}
		}
	}},
	{"Float32s", 4, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Float32s(off, n) {
			if !f(o, uint64(math.Float32bits(x))) {
				break
			}
		}
	}},
	{"Uint16s", 2, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Uint16s(off, n) {
			if !f(o, uint64(x)) {
				break
			}
		}
	}},
	{"Int16s", 2, func(s *accessor.Scanner, off int64, n int, f func(int64, uint64) bool) {
		for o, x := range s.Int16s(off, n) {
			if !f(o, uint64(uint16(x))) {
				break
			}
		}
	}},
}
