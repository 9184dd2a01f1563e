package bench

// Workloads a third party comparing mmap libraries would run on chunkmap
// with its default settings: ReadAt and WriteAt over a sweep of sizes,
// inside one chunk and across a chunk boundary, and random reads and a scan
// of a dataset larger than MaxMapped chunks, with admission on. Each
// compares chunkmap with pread, an mmap-go mapping and x/exp/mmap in the
// same sub-benchmark group, so ratios are taken within one run.

import (
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap"
)

// sweepSizes are the lengths of the ReadAt and WriteAt sweeps.
var sweepSizes = []int{1, 8, 64, 512, 4 << 10, 64 << 10, 1 << 20}

// sweepSpan is where the random offsets of the sweeps fall: small enough to
// stay in the page cache and mapped, large enough to miss the CPU's caches.
const sweepSpan = 8 << 20

// sweepOffsets returns random offsets of size-byte accesses to a dataset of
// chunkSize chunks and size bytes: within the first sweepSpan bytes for
// pos "inside" (an access may cross a boundary there only if chunks are
// smaller than sweepSpan), or across one of the dataset's chunk
// boundaries, by half of size (at most half a chunk) for pos "straddle".
func sweepOffsets(pos string, size int, chunkSize, dataSize int64) []int64 {
	r := rand.New(rand.NewPCG(11, uint64(size)))
	offs := make([]int64, 1<<12)
	for i := range offs {
		if pos == "inside" {
			offs[i] = r.Int64N(sweepSpan - int64(size) + 1)
			continue
		}
		bound := (1 + r.Int64N(dataSize/chunkSize-1)) * chunkSize
		offs[i] = bound - max(1, min(int64(size)/2, chunkSize/2))
	}
	return offs
}

// BenchmarkReadAtSize: ReadAt of 1 B to 1 MiB at random offsets of data in
// the page cache, inside a 64 MiB chunk or across a chunk boundary.
func BenchmarkReadAtSize(b *testing.B) {
	d := dataset(b, opsSize, bigChunk, 0)
	d.Options.MaxMapped = 0
	impls := readImpls()
	for _, pos := range []string{"inside", "straddle"} {
		b.Run("pos="+pos, func(b *testing.B) {
			for _, size := range sweepSizes {
				offs := sweepOffsets(pos, size, bigChunk, opsSize)
				b.Run("size="+FormatSize(int64(size)), func(b *testing.B) {
					for _, impl := range impls {
						b.Run("impl="+impl.name, func(b *testing.B) {
							ra := impl.openWarm(b, d)
							readLoop(b, ra, size, offs)
						})
					}
				})
			}
		})
	}
}

// sweepWriter is a WriterAt over a dataset, warmed like the readers.
type sweepWriter struct {
	name string
	open func(d Dataset) (io.ReaderAt, io.WriterAt, io.Closer, error)
}

// mappedFile is an mmap-go mapping of a flat file, read and written by
// copying, as a user of mmap-go writes.
type mappedFile struct {
	f *os.File
	m mmap.MMap
}

func (c *mappedFile) ReadAt(p []byte, off int64) (int, error) {
	n := copy(p, c.m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (c *mappedFile) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > int64(len(c.m)) {
		return 0, io.ErrShortWrite
	}
	return copy(c.m[off:], p), nil
}

func (c *mappedFile) Close() error {
	err := c.m.Unmap()
	return errorsJoin(err, c.f.Close())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func sweepWriters() []sweepWriter {
	return []sweepWriter{
		{"pwrite", func(d Dataset) (io.ReaderAt, io.WriterAt, io.Closer, error) {
			f, err := os.OpenFile(d.Flat, os.O_RDWR, 0)
			return f, f, f, err
		}},
		{"mmapgo", func(d Dataset) (io.ReaderAt, io.WriterAt, io.Closer, error) {
			f, err := os.OpenFile(d.Flat, os.O_RDWR, 0)
			if err != nil {
				return nil, nil, nil, err
			}
			m, err := mmap.Map(f, mmap.RDWR, 0)
			if err != nil {
				return nil, nil, nil, errorsJoin(err, f.Close())
			}
			c := &mappedFile{f, m}
			return c, c, c, nil
		}},
		{"chunkmap", func(d Dataset) (io.ReaderAt, io.WriterAt, io.Closer, error) {
			opts := d.Options
			m, err := chunkmap.Open(d.Dir, &opts)
			return m, m, m, err
		}},
	}
}

// BenchmarkWriteAtSize: WriteAt of 1 B to 1 MiB at random offsets over data
// in the page cache (the bytes already there, so the datasets stay alike),
// in 64 MiB chunks (inside one, or across a boundary) and in 64 KiB chunks
// (a write of 64 KiB or more spans chunks there). Every page was written
// once through each contender before it is timed.
func BenchmarkWriteAtSize(b *testing.B) {
	sets := []struct {
		name      string
		chunk     int64
		size      int64
		positions []string
	}{
		{"64MiB", bigChunk, opsSize, []string{"inside", "straddle"}},
		{"64KiB", smallChunk, 32 << 20, []string{"inside"}},
	}
	for _, set := range sets {
		d := dataset(b, set.size, set.chunk, 0)
		b.Run("chunk="+set.name, func(b *testing.B) {
			for _, pos := range set.positions {
				b.Run("pos="+pos, func(b *testing.B) {
					for _, size := range sweepSizes {
						offs := sweepOffsets(pos, size, set.chunk, set.size)
						b.Run("size="+FormatSize(int64(size)), func(b *testing.B) {
							for _, w := range sweepWriters() {
								b.Run("impl="+w.name, func(b *testing.B) {
									ra, wa, c, err := w.open(d)
									if err != nil {
										b.Fatal(err)
									}
									defer c.Close()
									// The bytes already at each offset, written
									// back there and so first through each
									// contender: the datasets stay alike, and
									// every page is dirty and mapped as in a
									// steady state of writes.
									ps := make([][]byte, min(len(offs), max(64, 64<<20/size)))
									for i := range ps {
										ps[i] = make([]byte, size)
										if _, err := ra.ReadAt(ps[i], offs[i]); err != nil {
											b.Fatal(err)
										}
										if _, err := wa.WriteAt(ps[i], offs[i]); err != nil {
											b.Fatal(err)
										}
									}
									i := 0
									b.SetBytes(int64(size))
									b.ReportAllocs()
									for b.Loop() {
										if _, err := wa.WriteAt(ps[i], offs[i]); err != nil {
											b.Fatal(err)
										}
										if i++; i == len(ps) {
											i = 0
										}
									}
								})
							}
						})
					}
				})
			}
		})
	}
}

// BenchmarkOverMapped: a dataset of 5 chunks of 32 MiB read through a
// Manager with MaxMapped 4 and admission on (the default), against the
// flat file: random reads over every chunk ("rand"), and passes in order
// over each chunk's first 4 MiB, a read per page ("scan"), the pattern least recently used
// eviction handles worst. chunkmap reports misses/op (reads that found
// their chunk unmapped) and maps/op.
func BenchmarkOverMapped(b *testing.B) {
	const (
		chunk  = 32 << 20
		chunks = 5
		span   = 4 << 20 // of each chunk, in "scan"
	)
	d := dataset(b, chunks*chunk, chunk, chunks-1)
	for _, pat := range []string{"rand", "scan"} {
		for _, size := range []int{8, 4 << 10} {
			r := rand.New(rand.NewPCG(13, 13))
			var offs []int64
			// scan reads one page in 4 KiB of each chunk's first span
			// bytes, chunk after chunk.
			for c := int64(0); c < chunks && pat == "scan"; c++ {
				for o := int64(0); o < span; o += 4 << 10 {
					offs = append(offs, c*chunk+o)
				}
			}
			for pat == "rand" && len(offs) < 1<<14 {
				offs = append(offs, r.Int64N(chunks*chunk/int64(size))*int64(size))
			}
			b.Run("pat="+pat+"/size="+FormatSize(int64(size)), func(b *testing.B) {
				for _, impl := range readImpls() {
					if impl.name == "chunkmap-ro" {
						continue
					}
					b.Run("impl="+impl.name, func(b *testing.B) {
						ra := impl.openWarm(b, d)
						var st0 chunkmap.Stats
						m, _ := ra.(*chunkmap.Manager)
						if m != nil {
							st0 = m.Stats()
						}
						readLoop(b, ra, size, offs)
						if m != nil {
							st := m.Stats()
							b.ReportMetric(float64(st.Misses-st0.Misses)/float64(b.N), "misses/op")
							b.ReportMetric(float64(st.Maps-st0.Maps)/float64(b.N), "maps/op")
						}
					})
				}
			})
		}
	}
}

// readLoop times ReadAt of size bytes at each of offs in turn, round and
// round, into one buffer.
func readLoop(b *testing.B, ra io.ReaderAt, size int, offs []int64) {
	b.Helper()
	p := make([]byte, size)
	i := 0
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ra.ReadAt(p, offs[i]); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(offs) {
			i = 0
		}
	}
}

// BenchmarkManyChunks: random 8-byte ReadAts over a dataset of 4,096
// chunks of 64 KiB (256 MiB) through a Manager with its default MaxMapped
// (1,024 chunks of 64 KiB) and admission: the chunks it does not map are
// read with pread through its descriptor cache, which keeps one file open
// for each of them where the process's descriptor limit allows.
func BenchmarkManyChunks(b *testing.B) {
	const chunks = 4096
	d := dataset(b, chunks*smallChunk, smallChunk, 0)
	d.Options.MaxMapped = 0
	r := rand.New(rand.NewPCG(17, 17))
	offs := make([]int64, 1<<16)
	for i := range offs {
		offs[i] = r.Int64N(chunks*smallChunk/8) * 8
	}
	for _, impl := range readImpls() {
		if impl.name == "chunkmap-ro" {
			continue
		}
		b.Run("impl="+impl.name, func(b *testing.B) {
			ra := impl.openWarm(b, d)
			m, _ := ra.(*chunkmap.Manager)
			var st0 chunkmap.Stats
			if m != nil {
				p := make([]byte, 8)
				for _, o := range offs { // settle admission and the cache
					if _, err := m.ReadAt(p, o); err != nil {
						b.Fatal(err)
					}
				}
				st0 = m.Stats()
			}
			readLoop(b, ra, 8, offs)
			if m != nil {
				st := m.Stats()
				b.ReportMetric(float64(st.Misses-st0.Misses)/float64(b.N), "misses/op")
			}
		})
	}
}
