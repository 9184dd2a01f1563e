package chunkmap_test

import (
	"strconv"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkAppendMany measures Append of 100-byte records from many
// goroutines at once, as a log store with one goroutine per connection
// makes them: an append that finishes before those in front of it waits to
// be published, so the cost of publishing must not grow with the number
// waiting. ns/op is per append.
func BenchmarkAppendMany(b *testing.B) {
	for _, gs := range []int{100, 1000, 10000} {
		b.Run("goroutines="+strconv.Itoa(gs), func(b *testing.B) {
			m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			rec := make([]byte, 100)
			each := max(1, b.N/gs)
			b.ResetTimer()
			done := make(chan error, gs)
			for range gs {
				go func() {
					for range each {
						if _, err := m.Append(rec); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
			}
			for range gs {
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// ns/op per append, whatever rounding each made.
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(each*gs), "ns/append")
		})
	}
}
