package bench

// The cold workloads: reads from disk, with the dataset dropped from the
// page cache before each pass. Linux only: they drop the page cache with
// posix_fadvise and count the bytes read from disk in /proc/self/io.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
)

const (
	// coldIOSize is the cold workloads' dataset: 512 MiB in chunks of
	// smallChunk (64 KiB), 8192 chunks, every one mappable. It is made
	// once per cache like the others (1 GiB on disk with its flat file).
	coldIOSize = 512 << 20
	// coldReads is how many random 4 KiB reads one ColdRandom pass makes,
	// each at a different page, 1/32 of the dataset's pages.
	coldReads = 4096
	// pageSize is the unit of the random cold reads.
	pageSize = 4096
)

// coldDataset returns the cold workloads' dataset.
func coldDataset(b *testing.B) Dataset {
	return dataset(b, coldIOSize, smallChunk, 0)
}

// dropCache writes back and then drops from the page cache the flat file
// and every file of the chunkmap dataset of d: fsync, then
// posix_fadvise(POSIX_FADV_DONTNEED). Nothing may map them meanwhile (a
// mapped page is not dropped), so contenders are closed first.
func dropCache(d Dataset) error {
	paths := []string{d.Flat}
	ents, err := os.ReadDir(d.Dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			paths = append(paths, filepath.Join(d.Dir, e.Name()))
		}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if err == nil {
			err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		}
		if err = errors.Join(err, f.Close()); err != nil {
			return fmt.Errorf("bench: drop %s from the page cache: %w", p, err)
		}
	}
	return nil
}

// diskReadBytes returns read_bytes from /proc/self/io: the bytes this
// process caused to be read from the block device (page faults and
// read-ahead included), over all its threads.
func diskReadBytes(b *testing.B) int64 {
	p, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatal(err)
	}
	for line := range bytes.Lines(p) {
		if v, ok := bytes.CutPrefix(line, []byte("read_bytes:")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no read_bytes in /proc/self/io")
	return 0
}

// coldImpl is a contender of the cold workloads.
type coldImpl struct {
	name string
	open func(d Dataset) (Contender, error)
}

// chunkmapWith opens chunkmap's Manager with advice as Options.Advice and
// admission off (every miss maps its chunk).
func chunkmapWith(advice chunkmap.Advice) func(Dataset) (Contender, error) {
	return func(d Dataset) (Contender, error) {
		d.Options.Advice = advice
		return openChunkmap(d)
	}
}

// chunkmapAdmitWith is chunkmapWith with admission on, the default: a miss
// maps its chunk only once the chunk is hot, and is served by pread before.
func chunkmapAdmitWith(advice chunkmap.Advice) func(Dataset) (Contender, error) {
	return func(d Dataset) (Contender, error) {
		d.Options.Advice = advice
		return openAdmit(d)
	}
}

// coldLoop runs pass once per iteration of b.Loop, each time on a freshly
// opened contender over a dataset just dropped from the page cache; only
// pass is timed. It reports disk-bytes/op, the bytes read from disk per op,
// and allocs/op and B/op of the passes alone, where one pass makes ops ops.
func coldLoop(b *testing.B, d Dataset, open func(Dataset) (Contender, error), ops int, pass func(c Contender) error) {
	var disk int64
	var mallocs, alloc uint64
	var m0, m1 runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		if err := dropCache(d); err != nil {
			b.Fatal(err)
		}
		c, err := open(d)
		if err != nil {
			b.Fatal(err)
		}
		r0 := diskReadBytes(b)
		runtime.ReadMemStats(&m0)
		b.StartTimer()
		err = pass(c)
		b.StopTimer()
		runtime.ReadMemStats(&m1)
		disk += diskReadBytes(b) - r0
		mallocs += m1.Mallocs - m0.Mallocs
		alloc += m1.TotalAlloc - m0.TotalAlloc
		if err = errors.Join(err, c.Close()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N) * float64(ops)
	b.ReportMetric(float64(disk)/n, "disk-bytes/op")
	b.ReportMetric(float64(mallocs)/n, "allocs/op")
	b.ReportMetric(float64(alloc)/n, "B/op")
}

// BenchmarkColdRandom: random 4 KiB reads, each of a different page, of a
// 512 MiB dataset (chunks of 64 KiB and of 64 MiB) dropped from the page
// cache before each pass of 4096 reads: pread on the flat file, and
// chunkmap's ReadAt with the default
// hint (the kernel's read-around on every fault) and with Options.Advice =
// AdviceRandom (no read-ahead), each with admission off (every miss maps
// its chunk) and on (the default: misses of chunks that are not hot are
// served by pread). ns/op, allocs/op and B/op are per read; it
// reports reads/s and disk-bytes/op, the bytes read from disk per read
// (4096 is the least). The passes, not the drops and opens between them,
// are timed.
func BenchmarkColdRandom(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	offs := make([]int64, coldReads)
	for i, pg := range r.Perm(coldIOSize / pageSize)[:coldReads] {
		offs[i] = int64(pg) * pageSize
	}
	impls := []coldImpl{
		{"pread", openPread},
		{"chunkmap", chunkmapWith(chunkmap.AdviceNormal)},
		{"chunkmap-random", chunkmapWith(chunkmap.AdviceRandom)},
		{"chunkmap-admit", chunkmapAdmitWith(chunkmap.AdviceNormal)},
		{"chunkmap-admit-random", chunkmapAdmitWith(chunkmap.AdviceRandom)},
	}
	// 8192 chunks of 64 KiB, where a pass opens and maps (or opens and
	// preads) a chunk file on most reads, and 8 chunks of 64 MiB, where
	// those costs are paid 8 times a pass; pread reads the one flat file
	// in both, and is measured again in each so that ratios compare runs
	// made together.
	for _, chunkSize := range []int64{smallChunk, 64 << 20} {
		d := dataset(b, coldIOSize, chunkSize, 0)
		b.Run("chunk="+FormatSize(chunkSize), func(b *testing.B) {
			for _, impl := range impls {
				b.Run("impl="+impl.name, func(b *testing.B) {
					coldRandom(b, d, impl, offs)
				})
			}
		})
	}
}

// coldRandom runs the passes of BenchmarkColdRandom over d with impl.
func coldRandom(b *testing.B, d Dataset, impl coldImpl, offs []int64) {
	b.ReportAllocs()
	b.SetBytes(coldReads * pageSize)
	p, want := make([]byte, pageSize), make([]byte, pageSize)
	coldLoop(b, d, impl.open, coldReads, func(c Contender) error {
		for _, off := range offs {
			if _, err := c.ReadAt(p, off); err != nil {
				return err
			}
		}
		// Check the last page read (outside the loop, so a check per
		// read does not slow the fastest).
		Fill(want, offs[len(offs)-1])
		if !bytes.Equal(p, want) {
			return fmt.Errorf("%s read other bytes at %d", impl.name, offs[len(offs)-1])
		}
		return nil
	})
	ops := float64(b.N) * coldReads
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ops, "ns/op")
	b.ReportMetric(ops/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkColdScan: one sequential scan of the whole 512 MiB dataset,
// dropped from the page cache before it, in 1 MiB blocks: buffered reads of
// the chunk files one after another (os.File.Read into a 1 MiB buffer),
// chunkmap's ReadAt with Options.Advice = AdviceSequential, and chunkmap's
// ReadAt with Manager.Advise(AdviceWillNeed) on the 4 MiB ahead of each
// block. ns/op is one whole scan; it reports disk-bytes/op per scan.
func BenchmarkColdScan(b *testing.B) {
	d := coldDataset(b)
	const ahead = 4 * BlockSize
	impls := []struct {
		coldImpl
		scan func(c Contender, p []byte) error
	}{
		{coldImpl{"buffered", openChunkFiles}, func(c Contender, p []byte) error {
			return c.(*chunkFiles).scan(p)
		}},
		{coldImpl{"chunkmap-seq", chunkmapWith(chunkmap.AdviceSequential)}, func(c Contender, p []byte) error {
			for off := int64(0); off < coldIOSize; off += BlockSize {
				if _, err := c.ReadAt(p, off); err != nil {
					return err
				}
			}
			return nil
		}},
		{coldImpl{"chunkmap-willneed", chunkmapWith(chunkmap.AdviceNormal)}, func(c Contender, p []byte) error {
			m := c.(*chunkmapRW).m
			if err := m.Advise(0, ahead, chunkmap.AdviceWillNeed); err != nil {
				return err
			}
			for off := int64(0); off < coldIOSize; off += BlockSize {
				if next := off + ahead; next < coldIOSize {
					if err := m.Advise(next, BlockSize, chunkmap.AdviceWillNeed); err != nil {
						return err
					}
				}
				if _, err := c.ReadAt(p, off); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(coldIOSize)
			p, want := make([]byte, BlockSize), make([]byte, BlockSize)
			coldLoop(b, d, impl.open, 1, func(c Contender) error {
				if err := impl.scan(c, p); err != nil {
					return err
				}
				Fill(want, coldIOSize-BlockSize)
				if !bytes.Equal(p, want) {
					return fmt.Errorf("%s: the last block differs", impl.name)
				}
				return nil
			})
		})
	}
}

// chunkFiles is the buffered scan's contender: the chunkmap dataset's chunk
// files read one after another with os.File.Read, the way a program that
// keeps its data in chunk files but maps nothing would scan them.
type chunkFiles struct {
	dir       string
	chunkSize int64
	size      int64
}

func openChunkFiles(d Dataset) (Contender, error) {
	return &chunkFiles{dir: d.Dir, chunkSize: d.Options.ChunkSize, size: d.Size}, nil
}

// scan reads every chunk file from start to end; p holds the last
// len(p) bytes read.
func (c *chunkFiles) scan(p []byte) error {
	fill := 0 // bytes of p holding data, the tail of what was read
	for idx := int64(0); idx*c.chunkSize < c.size; idx++ {
		f, err := os.Open(filepath.Join(c.dir, chunkFileName(idx)))
		if err != nil {
			return err
		}
		left := min(c.chunkSize, c.size-idx*c.chunkSize)
		for left > 0 {
			if fill == len(p) {
				fill = 0
			}
			n, err := f.Read(p[fill:min(int64(len(p)), int64(fill)+left)])
			fill += n
			left -= int64(n)
			if err != nil {
				f.Close()
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (c *chunkFiles) ReadAt(p []byte, off int64) (int, error) {
	return 0, errors.New("bench: chunkFiles only scans")
}

func (c *chunkFiles) Close() error { return nil }
