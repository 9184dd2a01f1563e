package accessor_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// The scan benchmarks read a dataset of scanSize bytes in chunks of
// scanChunk bytes, all mapped at once. Both the dataset and the flat file
// are sparse (made by Truncate), so they need no disk: reading them maps
// zero pages of the page cache, once, before the timer starts.
const (
	scanSize  int64 = 2 << 30
	scanChunk int64 = 64 << 20
)

// scanSink keeps the sums of the scan benchmarks alive.
var scanSink uint64

// sumFlat is the baseline: a loop of binary.LittleEndian.Uint64 over one
// flat mapping. It and the other sums are functions of their own, not
// inlined, so that all three loops are compiled alike, outside the
// benchmark's b.Loop body, whose results the compiler keeps alive.
//
//go:noinline
func sumFlat(p []byte) uint64 {
	var sum uint64
	for i := 0; i+8 <= len(p); i += 8 {
		sum += binary.LittleEndian.Uint64(p[i:])
	}
	return sum
}

// sumFlatUnrolled is sumFlat unrolled by four values, as the typed scans
// are: the loop of sumFlat, which advances one value per step, is bound by
// the processor (about 11 GiB/s on the 2-core AMD EPYC this was tuned on),
// this one by memory (about 20). It is the harder baseline.
//
//go:noinline
func sumFlatUnrolled(p []byte) uint64 {
	var sum uint64
	for ; len(p) >= 32; p = p[32:] {
		sum += binary.LittleEndian.Uint64(p[0:8])
		sum += binary.LittleEndian.Uint64(p[8:16])
		sum += binary.LittleEndian.Uint64(p[16:24])
		sum += binary.LittleEndian.Uint64(p[24:32])
	}
	for ; len(p) >= 8; p = p[8:] {
		sum += binary.LittleEndian.Uint64(p)
	}
	return sum
}

// sumUint64s sums the dataset with the typed scan.
//
//go:noinline
func sumUint64s(s *accessor.Scanner, n int64) uint64 {
	var sum uint64
	for _, x := range s.Uint64s(0, int(n/8)) {
		sum += x
	}
	return sum
}

// sumBlocks sums the dataset with the block scan, each block with the loop
// of sumFlat. The loop body of a block scan is a closure that the compiler
// does not inline (the scan yields from a Batch), so sum lives in memory
// that the body reaches through a pointer: summing into it value by value
// costs a store and a load per value (0.83x of flat, measured), so the
// inner loop sums into a local.
//
//go:noinline
func sumBlocks(s *accessor.Scanner, n int64) uint64 {
	var sum uint64
	for _, p := range s.Blocks(0, n) {
		var t uint64
		for i := 0; i+8 <= len(p); i += 8 {
			t += binary.LittleEndian.Uint64(p[i:])
		}
		sum += t
	}
	return sum
}

// sumBlocksUnrolled is sumBlocks with the loop of sumFlatUnrolled.
//
//go:noinline
func sumBlocksUnrolled(s *accessor.Scanner, n int64) uint64 {
	var sum uint64
	for _, p := range s.Blocks(0, n) {
		sum += sumFlatUnrolled(p)
	}
	return sum
}

// sumPinned is a control: the loop of sumFlatUnrolled over each chunk's
// mapped bytes, pinned, with no scan around it. Against flat-unrolled it
// measures what the chunk files' pages cost: on Linux, fewer of them were
// mapped as 2 MiB pages than of the one big file's (28% against 98%, in
// /proc/self/smaps; the page cache gives a file larger folios as its
// readahead grows, and each chunk file starts afresh). Against it,
// blocks-unrolled measures the block scan's own cost.
//
//go:noinline
func sumPinned(m *chunkmap.Manager, n int64) (uint64, error) {
	var sum uint64
	for off := int64(0); off < n; off += m.ChunkSize() {
		p, err := m.Pin(off, int(min(m.ChunkSize(), n-off)))
		if err != nil {
			return 0, err
		}
		sum += sumFlatUnrolled(p.Bytes())
		p.Release()
	}
	return sum, nil
}

// BenchmarkScan reads a 2 GiB dataset of 64 MiB chunks from end to end,
// with the typed scan and the block scan, against the same loop over one
// flat mapping of a file of the same size: case=flat, uint64s and blocks
// with the plain loop of sumFlat; flat-unrolled and blocks-unrolled with
// the loop of sumFlatUnrolled, and the control pinned-unrolled.
func BenchmarkScan(b *testing.B) {
	if strconv.IntSize < 64 {
		b.Skip("a 2 GiB flat mapping needs a 64-bit address space")
	}
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "flat"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(scanSize); err != nil {
		b.Fatal(err)
	}
	flat, err := mmap.Map(f, mmap.RDONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer flat.Unmap()

	m, err := chunkmap.Open(filepath.Join(dir, "dataset"), &chunkmap.Options{
		ChunkSize:   scanChunk,
		MaxMapped:   int(scanSize / scanChunk),
		NoAdmission: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(scanSize); err != nil {
		b.Fatal(err)
	}
	s := accessor.New(m, nil).Scan()

	for _, tc := range []struct {
		name string
		sum  func(b *testing.B) uint64
	}{
		{"flat", func(*testing.B) uint64 { return sumFlat(flat) }},
		{"uint64s", func(*testing.B) uint64 { return sumUint64s(s, scanSize) }},
		{"blocks", func(*testing.B) uint64 { return sumBlocks(s, scanSize) }},
		{"flat-unrolled", func(*testing.B) uint64 { return sumFlatUnrolled(flat) }},
		{"blocks-unrolled", func(*testing.B) uint64 { return sumBlocksUnrolled(s, scanSize) }},
		{"pinned-unrolled", func(b *testing.B) uint64 {
			sum, err := sumPinned(m, scanSize)
			if err != nil {
				b.Fatal(err)
			}
			return sum
		}},
	} {
		b.Run("case="+tc.name, func(b *testing.B) {
			tc.sum(b) // fault every page in, untimed
			b.ReportAllocs()
			b.SetBytes(scanSize)
			for b.Loop() {
				scanSink += tc.sum(b)
			}
			if err := s.Err(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
