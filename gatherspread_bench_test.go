package chunkmap_test

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkGatherSpread measures Gather and Scatter of 8-byte values at
// random offsets over many chunks of each size, the values in the first
// 64 KiB of each chunk so that the bytes stay in the CPU's cache and a
// dataset of large chunks takes little disk: what it measures is a block's
// check pass, which checks each chunk the block reaches once (as far as
// its table of recent chunks remembers) and is the same for every chunk
// size where that table keeps the chunks apart. Scatter allocates the
// first allocation step of each chunk (up to 64 MiB: 1 GiB in all for the
// 1 GiB case).
func BenchmarkGatherSpread(b *testing.B) {
	for _, c := range []struct {
		chunk  int64
		chunks int
	}{
		{64 << 20, 8},
		{64 << 20, 16},
		{64 << 20, 32},
		{1 << 30, 8},
		{1 << 30, 16},
		{2 << 30, 8},
	} {
		for _, op := range []string{"gather", "scatter"} {
			name := "chunk=" + strconv.FormatInt(c.chunk>>20, 10) + "MiB/chunks=" + strconv.Itoa(c.chunks) + "/op=" + op
			b.Run(name, func(b *testing.B) {
				m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: c.chunk, MaxMapped: c.chunks + 2})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				const span = 64 << 10
				page := make([]byte, span)
				for i := range c.chunks {
					if _, err := m.WriteAt(page, int64(i)*c.chunk); err != nil {
						b.Fatal(err)
					}
					// A Pin maps its chunk, whatever admission would say
					// of a miss, and the chunk stays mapped after the
					// release: MaxMapped leaves room for all of them.
					p, err := m.Pin(int64(i)*c.chunk, 8)
					if err != nil {
						b.Fatal(err)
					}
					p.Release()
				}
				r := rand.New(rand.NewPCG(1, 2))
				offs := make([]int64, 1<<16)
				for i := range offs {
					offs[i] = int64(r.IntN(c.chunks))*c.chunk + r.Int64N(span/8)*8
				}
				buf := make([]byte, 8*256)
				b.SetBytes(8)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					// b.N counts values: one call per 256 of them.
					if i&255 == 0 {
						j := i & (len(offs) - 1)
						var err error
						if op == "gather" {
							err = m.Gather(buf, offs[j:j+256], 8)
						} else {
							err = m.Scatter(buf, offs[j:j+256], 8)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					i++
				}
			})
		}
	}
}
