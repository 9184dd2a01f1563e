package chunkmap_test

import (
	"fmt"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkDefaultWindow: random 4 KiB ReadAt over a 256 MiB dataset of
// small chunks in the page cache, with MaxMapped at the old default (16
// chunks) and at the default (0: 16 GiB of chunks, at most 1024), to show
// what the window of a zero MaxMapped means for small chunks. Compare with
// benchstat -col /maxmapped.
func BenchmarkDefaultWindow(b *testing.B) {
	const size = 256 << 20
	offs := benchOffsets(size-4096, 1<<16)
	for _, chunk := range []int64{64 << 10, 1 << 20} {
		for _, mm := range []int{16, 0} {
			name := "16"
			if mm == 0 {
				name = "default"
			}
			b.Run(fmt.Sprintf("chunk=%dKiB/maxmapped=%s", chunk>>10, name), func(b *testing.B) {
				m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: chunk, MaxMapped: mm})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				buf := make([]byte, 1<<20)
				for off := int64(0); off < size; off += int64(len(buf)) {
					if _, err := m.WriteAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
				p := make([]byte, 4096)
				// Settle admission and the mappings before timing.
				for i := range 4 * len(offs) {
					if _, err := m.ReadAt(p, offs[i%len(offs)]); err != nil {
						b.Fatal(err)
					}
				}
				s0 := m.Stats()
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := m.ReadAt(p, offs[i%len(offs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
				s := m.Stats()
				b.ReportMetric(float64(s.Misses-s0.Misses)/float64(b.N), "misses/op")
				b.ReportMetric(float64(s.Mapped), "mapped")
			})
		}
	}
}
