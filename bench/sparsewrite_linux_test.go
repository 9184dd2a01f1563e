package bench

// Workload 16: random writes into a dataset made its full size by Truncate
// and never written: what a hash table or a bitmap on disk does first.
// Linux only: it reports the disk space each contender's files take
// (st_blocks), which is the point of chunkmap's sparse allocation and what
// other systems count differently.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
)

const (
	// sparseSize is the size the datasets are Truncated to: two chunks of
	// chunkmap's default 1 GiB.
	sparseSize = 2 << 30
	// sparseWrites is how many writes a pass makes, each at a different
	// 4 KiB-aligned place: 1/8 of the dataset's pages.
	sparseWrites = 1 << 16
)

// sparseWriter is one contender of BenchmarkSparseWrite: create makes a
// dataset of sparseSize bytes at path, never written, and returns how to
// write it and how many bytes of disk its files take.
type sparseWriter struct {
	name   string
	create func(path string) (io.WriterAt, func() (int64, error), io.Closer, error)
}

func sparseWriters() []sparseWriter {
	flat := func(path string) (*os.File, error) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		if err := f.Truncate(sparseSize); err != nil {
			return nil, errors.Join(err, f.Close())
		}
		return f, nil
	}
	fileDisk := func(path string) func() (int64, error) {
		return func() (int64, error) { return diskUse(path) }
	}
	manager := func(path string, grow bool) (io.WriterAt, func() (int64, error), io.Closer, error) {
		m, err := chunkmap.Open(path, nil)
		if err != nil {
			return nil, nil, nil, err
		}
		if grow {
			err = m.Grow(sparseSize)
		}
		if err == nil {
			err = m.Truncate(sparseSize)
		}
		if err != nil {
			return nil, nil, nil, errors.Join(err, m.Close())
		}
		return m, fileDisk(path), m, nil
	}
	return []sparseWriter{
		{"pwrite", func(path string) (io.WriterAt, func() (int64, error), io.Closer, error) {
			f, err := flat(path)
			if err != nil {
				return nil, nil, nil, err
			}
			return f, fileDisk(path), f, nil
		}},
		{"mmapgo", func(path string) (io.WriterAt, func() (int64, error), io.Closer, error) {
			f, err := flat(path)
			if err != nil {
				return nil, nil, nil, err
			}
			m, err := mmap.Map(f, mmap.RDWR, 0)
			if err != nil {
				return nil, nil, nil, errors.Join(err, f.Close())
			}
			c := &mappedFile{f, m}
			return c, fileDisk(path), c, nil
		}},
		{"chunkmap", func(path string) (io.WriterAt, func() (int64, error), io.Closer, error) {
			return manager(path, false)
		}},
		{"chunkmap-grow", func(path string) (io.WriterAt, func() (int64, error), io.Closer, error) {
			return manager(path, true)
		}},
	}
}

// diskUse returns the bytes of disk the file at path takes, or the files
// of the directory at path together (st_blocks, in units of 512 bytes).
func diskUse(path string) (int64, error) {
	var total int64
	err := filepath.WalkDir(path, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// sparseOffsets returns sparseWrites distinct random 4 KiB-aligned offsets
// in [0, sparseSize), the same for every contender.
func sparseOffsets() []int64 {
	r := rand.New(rand.NewPCG(16, sparseSize))
	pages := r.Perm(sparseSize / pageSize)[:sparseWrites]
	offs := make([]int64, len(pages))
	for i, p := range pages {
		offs[i] = int64(p) * pageSize
	}
	return offs
}

// countedBenchtime reports whether -test.benchtime is a count of
// iterations ("1x"), as BenchmarkSparseWrite needs.
func countedBenchtime() bool {
	f := flag.Lookup("test.benchtime")
	return f != nil && strings.HasSuffix(f.Value.String(), "x")
}

// BenchmarkSparseWrite: passes of sparseWrites random writes of 64 B or
// 4 KiB, each at a different 4 KiB-aligned place, into sparseSize bytes
// made by Truncate and never written, each iteration on a dataset made
// anew: pass=1 is the first pass, pass=2 and pass=3 the same writes again
// after the passes before them (untimed), on the same dataset. pwrite is
// os.File.WriteAt on one file, mmapgo one mmap-go mapping of it written by
// copy; chunkmap is Manager.WriteAt with the default Options (1 GiB
// chunks), after Truncate(sparseSize); chunkmap-grow does Grow(sparseSize)
// before that Truncate, which allocates the chunks whole. ns/op is per
// write; disk-MiB is what the files take on disk after the timed pass.
// Each iteration makes and deletes its own files (up to 2 GiB of disk) and
// writes them for seconds, so it runs only with a counted -benchtime:
//
//	go test -run '^$' -bench BenchmarkSparseWrite -benchtime 1x -count 6
func BenchmarkSparseWrite(b *testing.B) {
	if !countedBenchtime() {
		b.Skip("BenchmarkSparseWrite makes a dataset for every iteration: run it with -benchtime 1x (or another count)")
	}
	offs := sparseOffsets()
	for _, size := range []int{64, pageSize} {
		p := make([]byte, size)
		Fill(p, 0)
		b.Run("size="+FormatSize(int64(size)), func(b *testing.B) {
			for _, pass := range []int{1, 2, 3} {
				b.Run(fmt.Sprintf("pass=%d", pass), func(b *testing.B) {
					for _, w := range sparseWriters() {
						b.Run("impl="+w.name, func(b *testing.B) {
							sparsePass(b, w, p, offs, pass)
						})
					}
				})
			}
		})
	}
}

// sparsePass runs BenchmarkSparseWrite for one contender, its timed pass
// the pass-th over offs.
func sparsePass(b *testing.B, w sparseWriter, p []byte, offs []int64, pass int) {
	path := cache.Path("sparse-" + w.name)
	writeAll := func(wa io.WriterAt) {
		for _, off := range offs {
			if _, err := wa.WriteAt(p, off); err != nil {
				b.Fatalf("%s: write at %d: %v", w.name, off, err)
			}
		}
	}
	// ns/op is per write (perAccess), b.N is in passes: bytes per pass
	// make MB/s right.
	b.SetBytes(int64(len(p) * len(offs)))
	b.ReportAllocs()
	var disk int64
	// The timed passes' allocations and page faults, without the untimed
	// ones before them.
	var timed counters
	for b.Loop() {
		b.StopTimer()
		wa, use, c, err := w.create(path)
		if err != nil {
			b.Fatal(err)
		}
		for range pass - 1 {
			writeAll(wa)
		}
		c0 := readCounters()
		b.StartTimer()
		writeAll(wa)
		b.StopTimer()
		c1 := readCounters()
		timed.mem.Mallocs += c1.mem.Mallocs - c0.mem.Mallocs
		timed.mem.TotalAlloc += c1.mem.TotalAlloc - c0.mem.TotalAlloc
		timed.minflt += c1.minflt - c0.minflt
		timed.majflt += c1.majflt - c0.majflt
		if disk, err = use(); err != nil {
			b.Fatal(err)
		}
		if err := errors.Join(c.Close(), os.RemoveAll(path)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	perAccess(b, len(offs), counters{}, timed)
	b.ReportMetric(float64(disk)/(1<<20), "disk-MiB")
}
