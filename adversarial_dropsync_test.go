package chunkmap_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestAdversarial_ShrinkDuringBulkWriteThenSync races bulk writes (64 KiB,
// which go to the chunk files with pwrite) into chunks with a DropBefore or
// Truncate that deletes those chunks, then Syncs. Nothing but the Manager
// itself touched the directory, so every Sync after the writers stopped
// must succeed, and so must Close. A broken implementation that marks the
// chunk dirty after its pwrite without checking that the chunk still
// exists leaves the deleted chunk in its set of files to fsync: every later
// Sync (and Close) then fails with ErrFault ("removed by another program"),
// and since a failing Sync never writes the manifest, no later Size is
// recorded for a power loss.
func TestAdversarial_ShrinkDuringBulkWriteThenSync(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	cases := []struct {
		name   string
		chunks []int64 // the chunks the writers write
		shrink func(m *chunkmap.Manager) error
	}{
		{"DropBefore", []int64{0, 1}, func(m *chunkmap.Manager) error { return m.DropBefore(3 * cs) }},
		{"Truncate", []int64{4, 5}, func(m *chunkmap.Manager) error { return m.Truncate(3 * cs) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for round := 0; round < 100; round++ {
				m := advOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
				if _, err := m.WriteAt(make([]byte, 6*cs), 0); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				var running atomic.Int32
				var stop atomic.Bool
				buf := make([]byte, cs)
				for _, idx := range c.chunks {
					advGo(t, &wg, "bulk writer", func() {
						running.Add(1)
						for !stop.Load() {
							if _, err := m.WriteAt(buf, idx*cs); err != nil {
								if !errors.Is(err, chunkmap.ErrOutOfRange) {
									t.Errorf("bulk WriteAt: %v", err)
								}
								return
							}
						}
					})
				}
				for running.Load() < int32(len(c.chunks)) {
					time.Sleep(10 * time.Microsecond)
				}
				err := c.shrink(m)
				stop.Store(true)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				advWait(t, &wg, time.Minute, "writers")
				for i := 0; i < 2; i++ {
					if err := m.Sync(); err != nil {
						t.Fatalf("round %d: Sync %d after %s raced bulk writes to the deleted chunks: %v", round, i+1, c.name, err)
					}
				}
				if err := m.Close(); err != nil {
					t.Fatalf("round %d: Close: %v", round, err)
				}
			}
		})
	}
}
