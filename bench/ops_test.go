package bench

// Workloads of single operations a user makes besides random uint64
// accesses: small appends, sequential growth by WriteAt, 4 KiB block reads,
// Open+Close, a small write then Sync, Truncate, and io.Copy out of an
// io.SectionReader. Each compares chunkmap with the plain alternative in the
// same sub-benchmark group, so ratios are taken within one run.

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	xmmap "golang.org/x/exp/mmap"

	"github.com/chunkmap/chunkmap"
)

// opsReset is how many bytes a growing workload writes before it starts
// again on a new, empty file or dataset (untimed), so disk use stays small.
const opsReset = 256 << 20

// opsDir returns a new directory for one sub-benchmark, removed when it ends.
func opsDir(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp(cache.Dir(), "ops-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// opener makes an empty dataset at path and returns its append and close.
type grower struct {
	name   string
	create func(path string) (Builder, error)
}

// appendFile is os.File.Write on an O_APPEND file.
type appendFile struct{ f *os.File }

func (c *appendFile) Append(p []byte) error { _, err := c.f.Write(p); return err }
func (c *appendFile) Close() error          { return c.f.Close() }

func growers() []grower {
	cm := func(opts chunkmap.Options) func(string) (Builder, error) {
		return func(path string) (Builder, error) { return createChunkmapBuilder(path, opts) }
	}
	return []grower{
		{"osappend", func(path string) (Builder, error) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
			return &appendFile{f}, err
		}},
		{"pwrite", func(path string) (Builder, error) { return createPwriteBuilder(path, chunkmap.Options{}) }},
		{"mmapgo", func(path string) (Builder, error) { return createFlatBuilder(path, chunkmap.Options{}) }},
		{"chunkmap", cm(chunkmap.Options{})},
		{"chunkmap-64MiB", cm(chunkmap.Options{ChunkSize: 64 << 20})},
	}
}

// BenchmarkAppend: appends of records to a new file or dataset, small ones
// and ones of a few pages (16 and 60 KiB, under the 64 KiB from which a
// write over existing bytes goes to pwrite too).
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{16, 100, 4 << 10, 16 << 10, 60 << 10} {
		b.Run("size="+FormatSize(int64(size)), func(b *testing.B) {
			p := make([]byte, size)
			Fill(p, 0)
			for _, g := range growers() {
				b.Run("impl="+g.name, func(b *testing.B) {
					dir := opsDir(b)
					n := 0
					var bl Builder
					reset := func() {
						if bl != nil {
							if err := bl.Close(); err != nil {
								b.Fatal(err)
							}
						}
						path := filepath.Join(dir, "d"+strconv.Itoa(n))
						os.RemoveAll(filepath.Join(dir, "d"+strconv.Itoa(n-1)))
						n++
						var err error
						if bl, err = g.create(path); err != nil {
							b.Fatal(err)
						}
					}
					reset()
					written := 0
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						if written += size; written > opsReset {
							b.StopTimer()
							reset()
							written = size
							b.StartTimer()
						}
						if err := bl.Append(p); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					if err := bl.Close(); err != nil {
						b.Fatal(err)
					}
				})
			}
		})
	}
}

// BenchmarkGrowWrite: sequential WriteAt of blocks on a new file or dataset,
// each block past its end.
func BenchmarkGrowWrite(b *testing.B) {
	type wimpl struct {
		name string
		open func(path string) (io.WriterAt, io.Closer, error)
	}
	cm := func(opts chunkmap.Options) func(string) (io.WriterAt, io.Closer, error) {
		return func(path string) (io.WriterAt, io.Closer, error) {
			m, err := chunkmap.Open(path, &opts)
			return m, m, err
		}
	}
	impls := []wimpl{
		{"pwrite", func(path string) (io.WriterAt, io.Closer, error) {
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			return f, f, err
		}},
		{"chunkmap", cm(chunkmap.Options{})},
		{"chunkmap-64MiB", cm(chunkmap.Options{ChunkSize: 64 << 20})},
	}
	for _, size := range []int{4 << 10, 16 << 10, 64 << 10} {
		b.Run("size="+FormatSize(int64(size)), func(b *testing.B) {
			p := make([]byte, size)
			Fill(p, 0)
			for _, impl := range impls {
				b.Run("impl="+impl.name, func(b *testing.B) {
					dir := opsDir(b)
					n := 0
					var w io.WriterAt
					var c io.Closer
					reset := func() {
						if c != nil {
							if err := c.Close(); err != nil {
								b.Fatal(err)
							}
						}
						os.RemoveAll(filepath.Join(dir, "d"+strconv.Itoa(n-1)))
						path := filepath.Join(dir, "d"+strconv.Itoa(n))
						n++
						var err error
						if w, c, err = impl.open(path); err != nil {
							b.Fatal(err)
						}
					}
					reset()
					var off int64
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						if off+int64(size) > opsReset {
							b.StopTimer()
							reset()
							off = 0
							b.StartTimer()
						}
						if _, err := w.WriteAt(p, off); err != nil {
							b.Fatal(err)
						}
						off += int64(size)
					}
					b.StopTimer()
					if err := c.Close(); err != nil {
						b.Fatal(err)
					}
				})
			}
		})
	}
}

// readImpls are the ReaderAts of the block-read workloads over d.
type readImpl struct {
	name string
	open func(d Dataset) (io.ReaderAt, io.Closer, error)
}

// openWarm opens d with impl, reads it all once so that it is in the page
// cache (and mapped, where impl maps), and closes it when b ends.
func (impl readImpl) openWarm(b *testing.B, d Dataset) io.ReaderAt {
	b.Helper()
	ra, c, err := impl.open(d)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := Warm(ra, d.Size); err != nil {
		b.Fatal(err)
	}
	return ra
}

func readImpls() []readImpl {
	cm := func(ro bool) func(Dataset) (io.ReaderAt, io.Closer, error) {
		return func(d Dataset) (io.ReaderAt, io.Closer, error) {
			opts := d.Options
			opts.ReadOnly = ro
			m, err := chunkmap.Open(d.Dir, &opts)
			return m, m, err
		}
	}
	return []readImpl{
		{"pread", func(d Dataset) (io.ReaderAt, io.Closer, error) {
			f, err := os.Open(d.Flat)
			return f, f, err
		}},
		{"mmapgo", func(d Dataset) (io.ReaderAt, io.Closer, error) {
			c, err := openFlat(d)
			return c, c, err
		}},
		{"xexp", func(d Dataset) (io.ReaderAt, io.Closer, error) {
			r, err := xmmap.Open(d.Flat)
			return r, r, err
		}},
		{"chunkmap", cm(false)},
		{"chunkmap-ro", cm(true)},
	}
}

// opsSize is the dataset of the read workloads: 256 MiB in 64 MiB chunks.
const opsSize = 256 << 20

// BenchmarkReadBlock: 4 KiB ReadAt, in order or at random 4 KiB-aligned
// offsets, of data in the page cache.
func BenchmarkReadBlock(b *testing.B) {
	const size = 4 << 10
	d := dataset(b, opsSize, bigChunk, 0)
	d.Options.MaxMapped = 0
	r := rand.New(rand.NewPCG(7, 7))
	rnd := make([]int64, 1<<16)
	for i := range rnd {
		rnd[i] = r.Int64N(opsSize/size) * size
	}
	for _, order := range []string{"seq", "rand"} {
		b.Run("order="+order, func(b *testing.B) {
			for _, impl := range readImpls() {
				b.Run("impl="+impl.name, func(b *testing.B) {
					ra := impl.openWarm(b, d)
					p := make([]byte, size)
					var off int64
					i := 0
					b.SetBytes(size)
					b.ReportAllocs()
					for b.Loop() {
						if order == "seq" {
							if off += size; off == opsSize {
								off = 0
							}
						} else {
							off = rnd[i]
							if i++; i == len(rnd) {
								i = 0
							}
						}
						if _, err := ra.ReadAt(p, off); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkReadSmall: 8-byte ReadAt at random 8-byte-aligned offsets in the
// first MiB of the dataset (in the CPU's caches): the cost of one call,
// which for a read-only Manager includes following its writer.
func BenchmarkReadSmall(b *testing.B) {
	d := dataset(b, opsSize, bigChunk, 0)
	d.Options.MaxMapped = 0
	r := rand.New(rand.NewPCG(7, 7))
	rnd := make([]int64, 1<<12)
	for i := range rnd {
		rnd[i] = r.Int64N(1<<20/8) * 8
	}
	for _, impl := range readImpls() {
		b.Run("impl="+impl.name, func(b *testing.B) {
			ra := impl.openWarm(b, d)
			p := make([]byte, 8)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ra.ReadAt(p, rnd[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(rnd) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkSectionCopy: io.Copy to io.Discard out of an io.SectionReader
// over the whole dataset (io.Discard reads 8 KiB at a time).
func BenchmarkSectionCopy(b *testing.B) {
	d := dataset(b, opsSize, bigChunk, 0)
	d.Options.MaxMapped = 0
	for _, impl := range readImpls() {
		b.Run("impl="+impl.name, func(b *testing.B) {
			ra := impl.openWarm(b, d)
			b.SetBytes(opsSize)
			b.ReportAllocs()
			for b.Loop() {
				n, err := io.Copy(io.Discard, io.NewSectionReader(ra, 0, opsSize))
				if err != nil || n != opsSize {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// BenchmarkOpenClose: Open then Close of an existing dataset of 100 chunks
// of 64 KiB (the flat file of the same size for os.Open), both timed.
func BenchmarkOpenClose(b *testing.B) {
	const chunks = 100
	d := dataset(b, chunks*smallChunk, smallChunk, 0)
	d.Options.MaxMapped = 0
	type oc struct {
		name string
		open func() (io.Closer, error)
	}
	cm := func(ro bool) func() (io.Closer, error) {
		return func() (io.Closer, error) {
			return chunkmap.Open(d.Dir, &chunkmap.Options{ReadOnly: ro})
		}
	}
	impls := []oc{
		{"osopen", func() (io.Closer, error) { return os.Open(d.Flat) }},
		{"osopenrw", func() (io.Closer, error) { return os.OpenFile(d.Flat, os.O_RDWR, 0) }},
		{"mmapgo", func() (io.Closer, error) { return openFlat(d) }},
		{"chunkmap", cm(false)},
		{"chunkmap-ro", cm(true)},
	}
	b.Run("chunks="+strconv.Itoa(chunks), func(b *testing.B) {
		for _, impl := range impls {
			b.Run("impl="+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c, err := impl.open()
					if err != nil {
						b.Fatal(err)
					}
					if err := c.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

// BenchmarkSmallSync: 8-byte WriteAts at random offsets in a span (1 over
// 64 MiB, as a database commits one change; 256; 4,096, which dirty every
// 2 MiB folio; 1,000 within one 4 KiB page), then Sync, on a 64 MiB file
// or dataset of one chunk, settled in the page cache in folios of up to
// 2 MiB (see settle). It reports disk-KiB/op, what the device wrote per op
// (every process's writes: run it on a quiet host): a store through a
// mapping dirties its whole folio for the next fsync (mmapgo), a pwrite
// only the blocks it writes.
func BenchmarkSmallSync(b *testing.B) {
	for _, c := range []struct {
		writes int
		span   int64
	}{{1, 64 << 20}, {256, 64 << 20}, {4096, 64 << 20}, {1000, 4 << 10}} {
		b.Run(fmt.Sprintf("writes=%d/span=%s", c.writes, FormatSize(c.span)), func(b *testing.B) { benchSmallSync(b, c.writes, c.span) })
	}
}

func benchSmallSync(b *testing.B, writes int, span int64) {
	const size = 64 << 20
	d := dataset(b, size, bigChunk, 0)
	d.Options.MaxMapped = 0
	r := rand.New(rand.NewPCG(9, 9))
	offs := make([]int64, 1<<12)
	for i := range offs {
		offs[i] = r.Int64N(span/8) * 8
	}
	type ws interface {
		io.WriterAt
		Sync() error
		Close() error
	}
	impls := []struct {
		name string
		open func() (ws, error)
	}{
		{"pwrite", func() (ws, error) { return os.OpenFile(d.Flat, os.O_RDWR, 0) }},
		{"mmapgo", func() (ws, error) {
			c, err := openFlat(d)
			if err != nil {
				return nil, err
			}
			return c.(*flat), nil
		}},
		{"chunkmap", func() (ws, error) { return chunkmap.Open(d.Dir, &d.Options) }},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			w, err := impl.open()
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var v [8]byte
			i := 0
			b.ReportAllocs()
			disk0, disk := deviceWritten(b, d.Flat)
			for b.Loop() {
				for range writes {
					if _, err := w.WriteAt(v[:], offs[i]); err != nil {
						b.Fatal(err)
					}
					if i++; i == len(offs) {
						i = 0
					}
				}
				if err := w.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			if disk1, ok := deviceWritten(b, d.Flat); disk && ok {
				b.ReportMetric(float64(disk1-disk0)/1024/float64(b.N), "disk-KiB/op")
			}
		})
	}
}

// BenchmarkTruncate: extend a 64 MiB file or dataset by 1 MiB, then cut it
// back (one op is both).
func BenchmarkTruncate(b *testing.B) {
	const size = 64 << 20
	type tr interface {
		Truncate(int64) error
		io.WriterAt
		Close() error
	}
	impls := []struct {
		name string
		open func(path string) (tr, error)
	}{
		{"os", func(path string) (tr, error) {
			return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		}},
		{"chunkmap", func(path string) (tr, error) { return chunkmap.Open(path, nil) }},
		{"chunkmap-64MiB", func(path string) (tr, error) {
			return chunkmap.Open(path, &chunkmap.Options{ChunkSize: 64 << 20})
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			t, err := impl.open(filepath.Join(opsDir(b), "d"))
			if err != nil {
				b.Fatal(err)
			}
			defer t.Close()
			p := make([]byte, 1<<20)
			for off := int64(0); off < size; off += int64(len(p)) {
				if _, err := t.WriteAt(p, off); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := t.Truncate(size + 1<<20); err != nil {
					b.Fatal(err)
				}
				if err := t.Truncate(size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
