package bench

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

const (
	// hotSize is the hot set: 64 KiB at the start of the dataset, which
	// stays in the CPU's caches.
	hotSize = 64 << 10
	// bigChunk is chunkmap's ChunkSize on the big sets.
	bigChunk = 64 << 20
	// smallChunk is the ChunkSize of the Sync and Open datasets.
	smallChunk = 64 << 10
	// block is how many accesses one kernel call makes; ns/op, allocs/op
	// and B/op of the random workloads are per access nonetheless.
	block = 256
	// defaultCold is the cold set's size unless CHUNKMAP_BENCH_COLD or
	// -cold say otherwise.
	defaultCold = 2 << 30
)

var coldFlag = flag.String("cold", "", "size of the cold set, e.g. 256MiB (default $CHUNKMAP_BENCH_COLD, else 2GiB)")

var (
	cache    *Cache
	coldSize int64 = defaultCold
)

func TestMain(m *testing.M) {
	flag.Parse()
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	if err := cache.Remove(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func setup() error {
	s := *coldFlag
	if s == "" {
		s = os.Getenv("CHUNKMAP_BENCH_COLD")
	}
	if s != "" {
		n, err := ParseSize(s)
		if err != nil {
			return err
		}
		if n < hotSize || n%hotSize != 0 {
			return fmt.Errorf("bench: cold size %s is not a multiple of %s", s, FormatSize(hotSize))
		}
		coldSize = n
	}
	var err error
	cache, err = NewCache(os.Getenv("CHUNKMAP_BENCH_DIR"))
	return err
}

// set is a range of the dataset that the random workloads draw offsets
// from.
type set struct {
	name  string
	span  int64 // offsets lie in [0, span)
	count int   // offsets precomputed
}

func sets() []set {
	return []set{
		{name: "hot", span: hotSize, count: 1 << 16},
		{name: "cold", span: coldSize, count: 1 << 20},
	}
}

// offsets returns n random multiples of 8 in [0, span), the same for every
// contender; n is a multiple of block.
func offsets(span int64, n int, seed uint64) []int64 {
	r := rand.New(rand.NewPCG(seed, uint64(span)))
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = r.Int64N(span/8) * 8
	}
	return offs
}

// values returns Value of each offset: what a read must find, and what a
// write stores (the bytes stay the same).
func values(offs []int64) []uint64 {
	v := make([]uint64, len(offs))
	for i, off := range offs {
		v[i] = Value(off)
	}
	return v
}

// dataset returns a dataset of size bytes in chunks of chunkSize, with
// every chunk mappable unless maxMapped says otherwise, its files settled
// in the page cache alike (see settle).
func dataset(b *testing.B, size, chunkSize int64, maxMapped int) Dataset {
	b.Helper()
	flatPath, err := cache.FlatFile(size)
	if err != nil {
		b.Fatal(err)
	}
	dir, err := cache.ChunkDataset(size, chunkSize)
	if err != nil {
		b.Fatal(err)
	}
	if maxMapped == 0 {
		maxMapped = int((size + chunkSize - 1) / chunkSize)
	}
	d := Dataset{Size: size, Flat: flatPath, Dir: dir,
		Options: chunkmap.Options{ChunkSize: chunkSize, MaxMapped: maxMapped}}
	settle(b, d)
	return d
}

// eachImpl runs run as sub-benchmark impl=<name> for every contender that
// want accepts. A contender is opened, and warmed by warm, the first time
// its sub-benchmark runs; it serves every -count repetition and is closed
// once they are done.
func eachImpl(b *testing.B, d Dataset, warm func(Contender) error, want func(Impl) bool, run func(b *testing.B, c Contender)) {
	for _, impl := range Impls {
		if !want(impl) {
			continue
		}
		var c Contender
		b.Run("impl="+impl.Name, func(b *testing.B) {
			if c == nil {
				var err error
				if c, err = impl.Open(d); err != nil {
					b.Fatalf("open %s: %v", impl.Name, err)
				}
				if err := warm(c); err != nil {
					b.Fatalf("%s: %v", impl.Name, err)
				}
				b.ResetTimer()
			}
			run(b, c)
			reportHuge(b, d)
		})
		if c == nil {
			continue
		}
		// Write back what a write workload dirtied, so the next
		// contender does not pay for it.
		if s, ok := c.(Syncer); ok {
			if err := s.Sync(); err != nil {
				b.Errorf("sync %s: %v", impl.Name, err)
			}
		}
		if err := c.Close(); err != nil {
			b.Errorf("close %s: %v", impl.Name, err)
		}
	}
}

// reads warms [0, span) for reading: the page cache holds it and the
// mapping contenders' page tables map it.
func reads(span int64) func(Contender) error {
	return func(c Contender) error { return Warm(c, span) }
}

// writes warms [0, span) for writing: after reads, it stores the bytes
// already there to every 4 KiB page, so that each page is dirty and mapped
// writable. Random stores then measure the steady state of each access path,
// not the one write fault per clean page (the same kernel path, ~1-15 µs,
// for flat and chunkmap alike) that the first store after each writeback
// pays.
func writes(span int64) func(Contender) error {
	return func(c Contender) error {
		if err := Warm(c, span); err != nil {
			return err
		}
		w := c.(RandWriter)
		offs, vals := make([]int64, 0, block), make([]uint64, 0, block)
		for off := int64(0); off < span; off += 4096 {
			offs, vals = append(offs, off), append(vals, Value(off))
			if len(offs) == block || off+4096 >= span {
				if err := w.WriteUint64s(offs, vals); err != nil {
					return err
				}
				offs, vals = offs[:0], vals[:0]
			}
		}
		return nil
	}
}

// guarded accepts the contenders that T covers, except pinned bytes, miss
// policies and the random workloads' reference designs.
func guarded[T any](impl Impl) bool {
	return Can[T](impl) && !impl.Pinned && !impl.Pressure && !impl.RandOnly
}

// random accepts what guarded does, and the contenders that only the random
// workloads measure (chunkslices, guardfloor, scopefloor, chunkmap-pinned).
func random[T any](impl Impl) bool {
	return Can[T](impl) && !impl.Pressure && (impl.RandOnly || !impl.Pinned)
}

// pressure accepts the contenders that T covers, except pinned bytes (which
// would keep every chunk mapped) and the reference designs.
func pressure[T any](impl Impl) bool { return Can[T](impl) && !impl.Pinned && !impl.RandOnly }

// viewOrFlat accepts flat and the View contenders that T covers.
func viewOrFlat[T any](impl Impl) bool {
	return Can[T](impl) && ((impl.Pinned && !impl.RandOnly) || impl.Name == "flat")
}

// blockWriter accepts the plain contenders that write blocks: flat, pread
// and chunkmap.
func blockWriter(impl Impl) bool { return plain(impl) && Can[BlockWriter](impl) }

// plain accepts the contenders that are not another API over chunkmap's
// Manager nor a reference design: flat, pread, xexp and chunkmap.
func plain(impl Impl) bool { return !impl.Variant && !impl.RandOnly }

// counters are what perAccess reports the change of.
type counters struct {
	mem    runtime.MemStats
	minflt int64 // page faults served from memory
	majflt int64 // page faults that read the disk
}

// readCounters reads the allocation and page fault counters.
func readCounters() counters {
	var c counters
	runtime.ReadMemStats(&c.mem)
	c.minflt, c.majflt = pageFaults()
	return c
}

// perAccess reports ns/op, allocs/op and B/op per access, for a benchmark
// whose b.N iterations made n accesses each, and which read c0 before it
// started and c1 after it ended (readCounters). It also reports the
// process's page faults per access: faults are what separates a mapping's
// cost from a copy's, and major faults (page cache misses) show when the
// machine dropped the data under the benchmark.
func perAccess(b *testing.B, n int, c0, c1 counters) {
	ops := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ops, "ns/op")
	b.ReportMetric(float64(c1.mem.Mallocs-c0.mem.Mallocs)/ops, "allocs/op")
	b.ReportMetric(float64(c1.mem.TotalAlloc-c0.mem.TotalAlloc)/ops, "B/op")
	b.ReportMetric(float64(c1.minflt-c0.minflt)/ops, "minflt/op")
	b.ReportMetric(float64(c1.majflt-c0.majflt)/ops, "majflt/op")
}

// randLoop runs kernel over consecutive blocks of offs, wrapping around,
// one block per iteration, and reports per access.
func randLoop(b *testing.B, offs []int64, kernel func(offs []int64) error) {
	b.ReportAllocs()
	b.SetBytes(8 * block)
	c0 := readCounters()
	i := 0
	for b.Loop() {
		if err := kernel(offs[i : i+block]); err != nil {
			b.Fatal(err)
		}
		if i += block; i == len(offs) {
			i = 0
		}
	}
	perAccess(b, block, c0, readCounters())
}

// reportMisses reports the chunkmap contender's LRU misses per access since
// s0.
func reportMisses(b *testing.B, c Contender, s0 chunkmap.Stats, n int) {
	if s, ok := c.(Statser); ok {
		s1 := s.Stats()
		ops := float64(b.N) * float64(n)
		b.ReportMetric(float64(s1.Misses-s0.Misses)/ops, "misses/op")
		b.ReportMetric(float64(s1.Maps-s0.Maps)/ops, "maps/op")
	}
}

func stats(c Contender) chunkmap.Stats {
	if s, ok := c.(Statser); ok {
		return s.Stats()
	}
	return chunkmap.Stats{}
}

// Workload 1: random uint64 reads.
func BenchmarkRandRead(b *testing.B) {
	for _, s := range sets() {
		b.Run("set="+s.name, func(b *testing.B) {
			d := dataset(b, coldSize, bigChunk, 0)
			offs := offsets(s.span, s.count, 1)
			eachImpl(b, d, reads(s.span), random[RandReader], func(b *testing.B, c Contender) {
				r, dst := c.(RandReader), make([]uint64, block)
				randLoop(b, offs, func(o []int64) error { return r.ReadUint64s(o, dst) })
			})
		})
	}
}

// Workload 2: the same through pinned Views (zero-copy, unguarded).
func BenchmarkViewRead(b *testing.B) {
	for _, s := range sets() {
		b.Run("set="+s.name, func(b *testing.B) {
			d := dataset(b, coldSize, bigChunk, 0)
			offs := offsets(s.span, s.count, 1)
			eachImpl(b, d, reads(s.span), viewOrFlat[RandReader], func(b *testing.B, c Contender) {
				r, dst := c.(RandReader), make([]uint64, block)
				randLoop(b, offs, func(o []int64) error { return r.ReadUint64s(o, dst) })
			})
		})
	}
}

// Workload 3: random uint64 writes (of the bytes already there).
func BenchmarkRandWrite(b *testing.B) {
	for _, s := range sets() {
		b.Run("set="+s.name, func(b *testing.B) {
			d := dataset(b, coldSize, bigChunk, 0)
			offs := offsets(s.span, s.count, 2)
			vals := values(offs)
			eachImpl(b, d, writes(s.span), random[RandWriter], func(b *testing.B, c Contender) {
				w, i := c.(RandWriter), 0
				randLoop(b, offs, func(o []int64) error {
					err := w.WriteUint64s(o, vals[i:i+len(o)])
					if i += len(o); i == len(vals) {
						i = 0
					}
					return err
				})
			})
		})
	}
}

// Workload 3, in blocks: random writes of whole 64 KiB and 1 MiB blocks
// over the bytes already there, in a 64 MiB span warmed as for RandWrite
// (every page dirty and mapped writable), by WriteAt. chunkmap sends a
// write of 64 KiB or more to pwrite (io.go, bulkWrite), which is what a
// hot rewrite in large blocks costs it against flat's copy.
func BenchmarkRandWriteBlock(b *testing.B) {
	const span = 64 << 20
	d := dataset(b, coldSize, bigChunk, 0)
	for _, size := range []struct {
		name string
		n    int64
	}{{"64KiB", 64 << 10}, {"1MiB", 1 << 20}} {
		b.Run("size="+size.name, func(b *testing.B) {
			// Each block holds the bytes already at its place, so that
			// every contender's data stays the same.
			blocks := make([][]byte, span/size.n)
			for i := range blocks {
				blocks[i] = make([]byte, size.n)
				Fill(blocks[i], int64(i)*size.n)
			}
			r := rand.New(rand.NewPCG(5, uint64(size.n)))
			order := make([]int, 1024)
			for i := range order {
				order[i] = r.IntN(len(blocks))
			}
			eachImpl(b, d, writes(span), blockWriter, func(b *testing.B, c Contender) {
				w, i := c.(BlockWriter), 0
				b.ReportAllocs()
				b.SetBytes(size.n)
				for b.Loop() {
					k := order[i&(len(order)-1)]
					i++
					if _, err := w.WriteAt(blocks[k], int64(k)*size.n); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// Workload 2, for stores: random uint64 writes through pinned Views.
func BenchmarkViewWrite(b *testing.B) {
	for _, s := range sets() {
		b.Run("set="+s.name, func(b *testing.B) {
			d := dataset(b, coldSize, bigChunk, 0)
			offs := offsets(s.span, s.count, 2)
			vals := values(offs)
			eachImpl(b, d, writes(s.span), viewOrFlat[RandWriter], func(b *testing.B, c Contender) {
				w, i := c.(RandWriter), 0
				randLoop(b, offs, func(o []int64) error {
					err := w.WriteUint64s(o, vals[i:i+len(o)])
					if i += len(o); i == len(vals) {
						i = 0
					}
					return err
				})
			})
		})
	}
}

// seqLoop reads the dataset from start to end and over again, one block of
// BlockSize per iteration, with read.
func seqLoop(b *testing.B, size int64, read func(off int64) error) {
	b.ReportAllocs()
	b.SetBytes(BlockSize)
	// One untimed read first, so the contender's buffers are sized.
	if err := read(0); err != nil {
		b.Fatal(err)
	}
	off := int64(0)
	for b.Loop() {
		if err := read(off); err != nil {
			b.Fatal(err)
		}
		if off += BlockSize; off+BlockSize > size {
			off = 0
		}
	}
}

// Workload 4: sequential ReadAt in 1 MiB blocks over the cold set.
func BenchmarkSeqRead(b *testing.B) {
	b.Run("set=cold", func(b *testing.B) {
		d := dataset(b, coldSize, bigChunk, 0)
		eachImpl(b, d, reads(d.Size), plain, func(b *testing.B, c Contender) {
			p := make([]byte, BlockSize)
			seqLoop(b, d.Size, func(off int64) error {
				_, err := c.ReadAt(p, off)
				return err
			})
		})
	})
}

// Workload 4, as uint64s: sequential runs of 1 MiB decoded into []uint64,
// the accessor's bulk calls against decoding what ReadAt copied.
func BenchmarkSeqReadUint64s(b *testing.B) {
	b.Run("set=cold", func(b *testing.B) {
		d := dataset(b, coldSize, bigChunk, 0)
		eachImpl(b, d, reads(d.Size), guarded[RunReader], func(b *testing.B, c Contender) {
			r, dst := c.(RunReader), make([]uint64, BlockSize/8)
			seqLoop(b, d.Size, func(off int64) error { return r.ReadRun(off, dst) })
		})
	})
}

// Workload 5: building the cold-size dataset by 1 MiB appends from empty.
// ns/op is one whole build; max-ns/append is the slowest single append of
// all the builds.
func BenchmarkBuild(b *testing.B) {
	b.Run("set=cold", func(b *testing.B) {
		p := make([]byte, BlockSize)
		Fill(p, 0)
		opts := chunkmap.Options{ChunkSize: bigChunk, MaxMapped: int((coldSize + bigChunk - 1) / bigChunk)}
		for _, impl := range BuildImpls {
			b.Run("impl="+impl.Name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(coldSize)
				path := cache.Path("build-" + impl.Name)
				var slowest time.Duration
				for b.Loop() {
					b.StopTimer()
					bl, err := impl.Create(path, opts)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					for off := int64(0); off < coldSize; off += BlockSize {
						t0 := time.Now()
						if err := bl.Append(p[:min(BlockSize, coldSize-off)]); err != nil {
							b.Fatal(err)
						}
						slowest = max(slowest, time.Since(t0))
					}
					b.StopTimer()
					if err := bl.Close(); err != nil {
						b.Fatal(err)
					}
					if err := os.RemoveAll(path); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(slowest.Nanoseconds()), "max-ns/append")
			})
		}
	})
}

// Workload 6: random uint64 reads from every core at once.
func BenchmarkParallelRead(b *testing.B) {
	for _, s := range sets() {
		b.Run("set="+s.name, func(b *testing.B) {
			d := dataset(b, coldSize, bigChunk, 0)
			offs := offsets(s.span, s.count, 3)
			eachImpl(b, d, reads(s.span), random[RandReader], func(b *testing.B, c Contender) {
				r := c.(RandReader)
				b.ReportAllocs()
				b.SetBytes(8 * block)
				var g atomic.Int64
				c0 := readCounters()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					dst := make([]uint64, block)
					// Goroutines start far apart in offs.
					i := int(g.Add(1)*7919*block) % len(offs)
					for pb.Next() {
						if err := r.ReadUint64s(offs[i:i+block], dst); err != nil {
							b.Error(err)
							return
						}
						if i += block; i == len(offs) {
							i = 0
						}
					}
				})
				b.StopTimer()
				perAccess(b, block, c0, readCounters())
			})
		})
	}
}

// Workload 7: random uint64 reads over a working set four times
// MaxMapped × ChunkSize, so chunkmap's LRU cannot hold it.
func BenchmarkLRU(b *testing.B) {
	maxMapped := max(1, int(coldSize/(4*bigChunk)))
	ws := int64(4*maxMapped) * bigChunk
	name := "ws=" + FormatSize(ws) + "/maxmapped=" + strconv.Itoa(maxMapped)
	b.Run(name, func(b *testing.B) {
		d := dataset(b, ws, bigChunk, maxMapped)
		offs := offsets(ws, 1<<20, 4)
		eachImpl(b, d, reads(ws), pressure[RandReader], func(b *testing.B, c Contender) {
			r, dst := c.(RandReader), make([]uint64, block)
			s0 := stats(c)
			randLoop(b, offs, func(o []int64) error { return r.ReadUint64s(o, dst) })
			reportMisses(b, c, s0, block)
		})
	})
}

// Workload 8: Sync with one dirty chunk among many clean ones, all mapped.
// Each iteration stores one uint64 in the next of a random sequence of
// chunks, then syncs.
func BenchmarkSync(b *testing.B) {
	for _, chunks := range []int64{1000, 10000} {
		b.Run("chunks="+strconv.FormatInt(chunks, 10)+"/dirty=1", func(b *testing.B) {
			d := dataset(b, chunks*smallChunk, smallChunk, 0)
			r := rand.New(rand.NewPCG(5, 5))
			offs := make([]int64, 1<<12)
			for i := range offs {
				offs[i] = r.Int64N(chunks)*smallChunk + r.Int64N(smallChunk/8)*8
			}
			vals := values(offs)
			want := func(i Impl) bool { return Can[Syncer](i) && Can[RandWriter](i) && plain(i) }
			eachImpl(b, d, reads(d.Size), want, func(b *testing.B, c Contender) {
				w := c.(RandWriter)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := w.WriteUint64s(offs[i:i+1], vals[i:i+1]); err != nil {
						b.Fatal(err)
					}
					if err := c.(Syncer).Sync(); err != nil {
						b.Fatal(err)
					}
					if i++; i == len(offs) {
						i = 0
					}
				}
			})
		})
	}
}

// Workload 8: opening a dataset of many small chunks (the flat file of the
// same size for the others). Only the open is timed, not the close.
func BenchmarkOpen(b *testing.B) {
	for _, chunks := range []int64{1000, 10000} {
		b.Run("chunks="+strconv.FormatInt(chunks, 10), func(b *testing.B) {
			d := dataset(b, chunks*smallChunk, smallChunk, 0)
			for _, impl := range Impls {
				if !plain(impl) {
					continue
				}
				b.Run("impl="+impl.Name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						c, err := impl.Open(d)
						if err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						if err := c.Close(); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				})
			}
		})
	}
}
