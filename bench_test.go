package chunkmap_test

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	mmap "github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap"
)

// These benchmarks take the hit path apart: raw loads from one flat mapping
// (the limit), loads through a Batch (table lookup, no per-call guard), and
// ReadAt (lookup, fault guard and copy). The nested module in bench/
// compares whole workloads with other libraries.

const benchChunk = 64 << 20

type benchSet struct {
	name string
	size int64
}

var benchSets = []benchSet{{"hot", 64 << 10}, {"cold", 512 << 20}}

// benchOffsets returns n random 8-aligned offsets below size.
func benchOffsets(size int64, n int) []int64 {
	r := rand.New(rand.NewPCG(1, 2))
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = r.Int64N(size/8) * 8
	}
	return offs
}

// openBench returns a Manager over size bytes with every chunk mappable,
// touched once so the page cache is warm.
func openBench(b *testing.B, size int64) *chunkmap.Manager {
	b.Helper()
	m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: benchChunk, MaxMapped: int(size/benchChunk) + 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := m.WriteAt(buf[:n], off); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

func BenchmarkRandRead(b *testing.B) {
	for _, set := range benchSets {
		offs := benchOffsets(set.size, 1<<20)
		b.Run("set="+set.name+"/impl=flat", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "flat")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(set.size); err != nil {
				b.Fatal(err)
			}
			mm, err := mmap.Map(f, mmap.RDWR, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer mm.Unmap()
			for i := range mm {
				mm[i] = byte(i)
			}
			var sum uint64
			i := 0
			b.ReportAllocs()
			b.SetBytes(8)
			for b.Loop() {
				sum += binary.LittleEndian.Uint64(mm[offs[i&(len(offs)-1)]:])
				i++
			}
			sink = sum
		})
		b.Run("set="+set.name+"/impl=batch", func(b *testing.B) {
			m := openBench(b, set.size)
			var sum uint64
			b.ReportAllocs()
			b.SetBytes(8)
			i := 0
			for b.Loop() {
				// One Batch per 256 reads: the guard is set up once for them.
				err := m.Batch(func(bt *chunkmap.Batch) error {
					for range 256 {
						p, err := bt.Bytes(offs[i&(len(offs)-1)], 8)
						if err != nil {
							return err
						}
						sum += binary.LittleEndian.Uint64(p)
						i++
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/read")
			sink = sum
		})
		b.Run("set="+set.name+"/impl=rawchunks", func(b *testing.B) {
			// The chunks' own mappings indexed directly: what the layout
			// costs before any chunkmap code runs.
			m := openBench(b, set.size)
			var chunks [][]byte
			for off := int64(0); off < set.size; off += benchChunk {
				n := int(min(benchChunk, set.size-off))
				p, err := m.Pin(off, n)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Release()
				chunks = append(chunks, p.Bytes())
			}
			var sum uint64
			i := 0
			b.ReportAllocs()
			b.SetBytes(8)
			for b.Loop() {
				off := offs[i&(len(offs)-1)]
				sum += binary.LittleEndian.Uint64(chunks[off/benchChunk][off%benchChunk:])
				i++
			}
			sink = sum
		})
		b.Run("set="+set.name+"/impl=gather", func(b *testing.B) {
			m := openBench(b, set.size)
			var sum uint64
			buf := make([]byte, 8*256)
			b.ReportAllocs()
			b.SetBytes(8)
			i := 0
			for b.Loop() {
				// b.N counts values: one Gather per 256 of them.
				if i&255 == 0 {
					j := i & (len(offs) - 1)
					if err := m.Gather(buf, offs[j:j+256], 8); err != nil {
						b.Fatal(err)
					}
				}
				sum += binary.LittleEndian.Uint64(buf[(i&255)*8:])
				i++
			}
			sink = sum
		})
		b.Run("set="+set.name+"/impl=readat", func(b *testing.B) {
			m := openBench(b, set.size)
			var sum uint64
			var buf [8]byte
			b.ReportAllocs()
			b.SetBytes(8)
			i := 0
			for b.Loop() {
				if _, err := m.ReadAt(buf[:], offs[i&(len(offs)-1)]); err != nil {
					b.Fatal(err)
				}
				sum += binary.LittleEndian.Uint64(buf[:])
				i++
			}
			sink = sum
		})
	}
}

var sink uint64

// BenchmarkAdmissionMiss measures a read under LRU pressure with Admission:
// random 8-byte reads spread evenly over four times as many 64 KiB chunks
// as may be mapped, so three reads in four miss and are served by pread.
// The mapped=8 and mapped=256 cases differ in the per-miss scan of the
// mapped chunks that picks the eviction victim.
func BenchmarkAdmissionMiss(b *testing.B) {
	for _, mapped := range []int{8, 256} {
		b.Run("mapped="+strconv.Itoa(mapped), func(b *testing.B) {
			const cs = chunkmap.MinChunkSize
			chunks := int64(4 * mapped)
			m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: mapped})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(make([]byte, chunks*cs), 0); err != nil {
				b.Fatal(err)
			}
			offs := benchOffsets(chunks*cs, 1<<16)
			var buf [8]byte
			for _, off := range offs { // the window fills and the counts settle
				if _, err := m.ReadAt(buf[:], off); err != nil {
					b.Fatal(err)
				}
			}
			s0 := m.Stats()
			i := 0
			for b.Loop() {
				if _, err := m.ReadAt(buf[:], offs[i&(len(offs)-1)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			s1 := m.Stats()
			b.ReportMetric(float64(s1.Misses-s0.Misses)/float64(b.N), "misses/op")
			b.ReportMetric(float64(s1.Maps-s0.Maps)/float64(b.N), "maps/op")
		})
	}
}

// BenchmarkShortBatch measures a Batch of one 8-byte access, as a request
// handler that reads or updates one record under one fault guard would
// open: the cost of opening and ending a batch and of its first touch of a
// chunk (a hold, and for writes the check that the chunk is allocated and
// queued for Sync). The parallel cases run one such batch per iteration on
// every processor, against the same chunk.
func BenchmarkShortBatch(b *testing.B) {
	const size = 64 << 10
	m := openBench(b, size)
	offs := benchOffsets(size, 1024)
	for _, tc := range []struct {
		name     string
		write    bool
		parallel bool
	}{{"read", false, false}, {"write", true, false}, {"read-parallel", false, true}, {"write-parallel", true, true}} {
		b.Run("op="+tc.name, func(b *testing.B) {
			one := func(i int) error {
				off := offs[i%len(offs)]
				return m.Batch(func(bt *chunkmap.Batch) error {
					if tc.write {
						p, err := bt.WritableBytes(off, 8)
						if err == nil {
							binary.LittleEndian.PutUint64(p, uint64(i))
						}
						return err
					}
					_, err := bt.Bytes(off, 8)
					return err
				})
			}
			if !tc.parallel {
				i := 0
				for b.Loop() {
					if err := one(i); err != nil {
						b.Fatal(err)
					}
					i++
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if err := one(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBatchTouch measures the first touch of a chunk in a Batch: each
// batch reads one word from each of 64 chunks of 64 KiB (the words stay in
// the CPU's caches), walking through them in order or in a random order,
// or in the random order after one Hold of the 64 chunks. ns/op is per
// chunk touched.
func BenchmarkBatchTouch(b *testing.B) {
	const chunks, cs = 64, 64 << 10
	m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: chunks})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(chunks * cs); err != nil {
		b.Fatal(err)
	}
	walk := make([]int64, chunks)
	for i := range walk {
		walk[i] = int64(i) * cs
	}
	shuffled := slices.Clone(walk)
	seed := uint64(time.Now().UnixNano())
	b.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, tc := range []struct {
		name string
		offs []int64
		hold bool
	}{{"walk", walk, false}, {"shuffled", shuffled, false}, {"held-shuffled", shuffled, true}} {
		b.Run("order="+tc.name, func(b *testing.B) {
			var sum uint64
			for b.Loop() {
				err := m.Batch(func(bt *chunkmap.Batch) error {
					if tc.hold {
						if err := bt.Hold(0, chunks*cs); err != nil {
							return err
						}
					}
					for _, off := range tc.offs {
						p, err := bt.Bytes(off, 8)
						if err != nil {
							return err
						}
						sum += binary.LittleEndian.Uint64(p)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if sum != 0 {
				b.Fatalf("read %d from zeros", sum)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunks), "ns/touch")
		})
	}
}
