package bench

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// evictChunks is the size of the eviction workload's dataset in chunks of
// smallChunk (64 KiB): 4 MiB, of which MaxMapped 2 chunks fit.
const evictChunks = 64

// BenchmarkEvictIdle: random 8-byte ReadAt by 2 goroutines over a dataset
// of 64 chunks of 64 KiB with MaxMapped 2 and admission off, so that nearly
// every read misses and evicts a chunk, while idle goroutines sit parked on
// a channel: does the cost of an eviction (unmapping a chunk that other
// goroutines might still be reading) grow with the number of goroutines
// the program has? A third goroutine runs a 1 ms time.Ticker and records
// the largest gap between ticks beyond the 1 ms period, the longest any
// goroutine had to wait for the runtime meanwhile.
//
// ns/op is wall time per read with both readers running; it reports
// reads/s (all readers together), tick-max-ms, and evictions/op from Stats.
// It splits b.N between two goroutines of its own rather than use b.Loop or
// RunParallel, so that the readers are two whatever GOMAXPROCS is.
func BenchmarkEvictIdle(b *testing.B) {
	d := dataset(b, evictChunks*smallChunk, smallChunk, 2)
	d.Options.NoAdmission = true
	offs := offsets(d.Size, 1<<16, 6)
	for _, idle := range []int{0, 100000} {
		// The parked goroutines and the Manager are made the first time
		// the sub-benchmark function runs, and serve every call of it
		// (b.N rises from 1), so only reads are timed.
		var (
			m    *chunkmap.Manager
			park chan struct{}
			wg   sync.WaitGroup
		)
		b.Run("idle="+strconv.Itoa(idle), func(b *testing.B) {
			if m == nil {
				park = make(chan struct{})
				for range idle {
					wg.Go(func() { <-park })
				}
				opts := d.Options
				var err error
				if m, err = chunkmap.Open(d.Dir, &opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.SetBytes(8)
			s0 := m.Stats()

			stop, done := make(chan struct{}), make(chan struct{})
			var maxGap atomic.Int64
			go func() {
				defer close(done)
				t := time.NewTicker(time.Millisecond)
				defer t.Stop()
				last := time.Now()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						now := time.Now()
						if g := int64(now.Sub(last)); g > maxGap.Load() {
							maxGap.Store(g)
						}
						last = now
					}
				}
			}()

			b.ResetTimer()
			var readers sync.WaitGroup
			for g := range 2 {
				n := b.N / 2
				if g < b.N%2 {
					n++
				}
				// The readers start far apart in offs, at a random place
				// each call.
				i := (g*len(offs)/2 + rand.IntN(len(offs))) % len(offs)
				readers.Go(func() {
					var p [8]byte
					for range n {
						if _, err := m.ReadAt(p[:], offs[i]); err != nil {
							b.Error(err)
							return
						}
						if i++; i == len(offs) {
							i = 0
						}
					}
				})
			}
			readers.Wait()
			b.StopTimer()
			close(stop)
			<-done

			s1 := m.Stats()
			sec := b.Elapsed().Seconds()
			if sec > 0 {
				b.ReportMetric(float64(b.N)/sec, "reads/s")
			}
			b.ReportMetric(float64(max(0, maxGap.Load()-int64(time.Millisecond)))/1e6, "tick-max-ms")
			b.ReportMetric(float64(s1.Evictions-s0.Evictions)/float64(b.N), "evictions/op")
		})
		if m != nil {
			if err := m.Close(); err != nil {
				b.Error(err)
			}
			close(park)
			wg.Wait()
		}
	}
}
