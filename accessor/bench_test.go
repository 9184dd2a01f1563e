package accessor_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// benchChunks chunks of 64 KiB, all mappable at once: the benchmarks
// measure the hit path, not mapping.
const benchChunks = 16

// newBenchAccessor returns an accessor on a dataset of benchChunks chunks,
// every one of them mapped.
func newBenchAccessor(b *testing.B, order binary.ByteOrder) (*chunkmap.Manager, *accessor.ViewAccessor) {
	m := newTestManager(b, &chunkmap.Options{MaxMapped: benchChunks})
	fill(b, m, 0, benchChunks*cs)
	return m, accessor.New(m, order)
}

// randomOffsets returns n offsets of aligned 8-byte words spread over the
// benchmark dataset, precomputed so that the generator is not timed.
func randomOffsets(n int) []int64 {
	r := rand.New(rand.NewPCG(1, 2))
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = r.Int64N(benchChunks*cs/8) * 8
	}
	return offs
}

// positions are the offsets the single-value benchmarks use: inside a
// chunk, and straddling the first boundary (4 bytes in each chunk).
var positions = []struct {
	name string
	off  int64
}{
	{"inside", 128},
	{"straddle", cs - 4},
}

func BenchmarkReadUint64(b *testing.B) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		_, va := newBenchAccessor(b, order)
		for _, pos := range positions {
			b.Run(fmt.Sprintf("pos=%s/order=%v", pos.name, order), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(8)
				for b.Loop() {
					if _, err := va.ReadUint64(pos.off); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("pos=random/order=%v", order), func(b *testing.B) {
			offs := randomOffsets(1 << 16)
			b.ReportAllocs()
			b.SetBytes(8)
			i := 0
			for b.Loop() {
				if _, err := va.ReadUint64(offs[i&(len(offs)-1)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkManagerReadAt reads 8 bytes with the Manager's ReadAt and
// decodes them with encoding/binary: the floor under ReadUint64, which is
// built on it, so the difference is the accessor's own cost.
func BenchmarkManagerReadAt(b *testing.B) {
	m, _ := newBenchAccessor(b, nil)
	for _, pos := range positions {
		b.Run("size=8/pos="+pos.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(8)
			var buf [8]byte
			for b.Loop() {
				if _, err := m.ReadAt(buf[:], pos.off); err != nil {
					b.Fatal(err)
				}
				sink = binary.LittleEndian.Uint64(buf[:])
			}
		})
	}
}

// BenchmarkReadUint64Parallel reads random words from every core: the hit
// path must take no lock or counter that all readers share.
func BenchmarkReadUint64Parallel(b *testing.B) {
	_, va := newBenchAccessor(b, nil)
	offs := randomOffsets(1 << 16)
	b.Run("pos=random", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8)
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(offs))
			for pb.Next() {
				if _, err := va.ReadUint64(offs[i&(len(offs)-1)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

func BenchmarkWriteUint64(b *testing.B) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		_, va := newBenchAccessor(b, order)
		for _, pos := range positions {
			b.Run(fmt.Sprintf("pos=%s/order=%v", pos.name, order), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(8)
				x := uint64(0)
				for b.Loop() {
					if err := va.WriteUint64(pos.off, x); err != nil {
						b.Fatal(err)
					}
					x++
				}
			})
		}
		b.Run(fmt.Sprintf("pos=random/order=%v", order), func(b *testing.B) {
			offs := randomOffsets(1 << 16)
			b.ReportAllocs()
			b.SetBytes(8)
			i := 0
			for b.Loop() {
				if err := va.WriteUint64(offs[i&(len(offs)-1)], uint64(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkReadFloat32(b *testing.B) {
	_, va := newBenchAccessor(b, nil)
	for _, pos := range positions {
		b.Run("pos="+pos.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(4)
			for b.Loop() {
				if _, err := va.ReadFloat32(pos.off); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAtomics measures one atomic operation with its pin and release,
// on one goroutine and on every core at once (on distinct words of one
// chunk, so the pin count of that chunk is the only shared line).
func BenchmarkAtomics(b *testing.B) {
	_, va := newBenchAccessor(b, nil)
	ops := []struct {
		name string
		fn   func(off int64) error
	}{
		{"LoadUint64", func(off int64) error { _, err := va.LoadUint64(off); return err }},
		{"StoreUint64", func(off int64) error { return va.StoreUint64(off, 1) }},
		{"AddUint64", func(off int64) error { _, err := va.AddUint64(off, 1); return err }},
		{"CompareAndSwapUint64", func(off int64) error { _, err := va.CompareAndSwapUint64(off, 0, 0); return err }},
		{"AddUint32", func(off int64) error { _, err := va.AddUint32(off, 1); return err }},
	}
	for _, op := range ops {
		b.Run("op="+op.name+"/par=1", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := op.fn(256); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op="+op.name+"/par=all", func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				off := 256 + 64*next.Add(1) // its own cache line
				for pb.Next() {
					if err := op.fn(off); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkReadUint64s(b *testing.B) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		_, va := newBenchAccessor(b, order)
		for _, n := range []int{1, 16, 512, 8192} {
			dst := make([]uint64, n)
			b.Run(fmt.Sprintf("n=%d/order=%v", n, order), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(8 * n))
				for b.Loop() {
					if err := va.ReadUint64s(cs-100, dst); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkWriteUint64s(b *testing.B) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		_, va := newBenchAccessor(b, order)
		for _, n := range []int{1, 16, 512, 8192} {
			src := values[uint64](n, 3)
			b.Run(fmt.Sprintf("n=%d/order=%v", n, order), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(8 * n))
				for b.Loop() {
					if err := va.WriteUint64s(cs-100, src); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSlice measures a Slice and its Release: the cost of pinning.
func BenchmarkSlice(b *testing.B) {
	_, va := newBenchAccessor(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		w, err := va.Slice(4096, 4096)
		if err != nil {
			b.Fatal(err)
		}
		w.Release()
	}
}

// BenchmarkView reads random words straight from a pinned View's bytes:
// the zero-copy ceiling of a hot loop, with no guard and no lookup.
func BenchmarkView(b *testing.B) {
	_, va := newBenchAccessor(b, nil)
	w, err := va.Slice(0, cs)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Release()
	offs := randomOffsets(1 << 16)
	for i := range offs {
		offs[i] %= cs
	}
	b.Run("op=ReadUint64/pos=random", func(b *testing.B) {
		p := w.Bytes()
		b.ReportAllocs()
		b.SetBytes(8)
		var sum uint64
		i := 0
		for b.Loop() {
			o := offs[i&(len(offs)-1)]
			sum += binary.LittleEndian.Uint64(p[o : o+8])
			i++
		}
		sink = sum
	})
}

var sink uint64

// BenchmarkBatchReadUint64 reads uint64s at random offsets through one
// Batch per 256 reads: the batch's typed fast path against the run of mapped
// bytes it last reached, and its general path when an offset leaves it.
func BenchmarkBatchReadUint64(b *testing.B) {
	for _, set := range []struct {
		name string
		span int64
	}{{"one-chunk", cs}, {"all", benchChunks * cs}} {
		b.Run("set="+set.name, func(b *testing.B) {
			_, va := newBenchAccessor(b, nil)
			offs := randomOffsets(4096)
			for i := range offs {
				offs[i] %= set.span
			}
			b.ReportAllocs()
			b.SetBytes(8)
			var sum uint64
			n := 0
			for b.Loop() {
				if n%256 == 0 {
					err := va.Batch(func(bt *accessor.Batch) error {
						for k := range 256 {
							x, err := bt.ReadUint64(offs[(n+k)%len(offs)])
							if err != nil {
								return err
							}
							sum += x
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				n++
			}
			_ = sum
		})
	}
}
