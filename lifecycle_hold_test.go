package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

func TestLifecycle_HoldManyThenMappedBack(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, slots := range []int64{1, 2, 3, 0} {
		for _, ro := range []bool{false, true} {
			dir := t.TempDir()
			w := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: slots * cs})
			if _, err := w.WriteAt(make([]byte, 20*cs), 0); err != nil {
				t.Fatal(err)
			}
			m := w
			if ro {
				m = advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: slots * cs, ReadOnly: true})
			}
			err := m.Batch(func(b *chunkmap.Batch) error {
				if err := b.Hold(cs/2, 19*cs); err != nil {
					return err
				}
				if !ro {
					if err := b.HoldWritable(0, 20*cs); err != nil {
						return err
					}
				}
				for i := int64(0); i < 19; i++ {
					if _, err := b.Bytes(i*cs+cs/2, cs); err != nil {
						return err
					}
				}
				if _, err := b.Bytes(0, 20*cs); err != nil {
					return err
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			st := m.Stats()
			t.Logf("slots %d ro %v: %+v", slots, ro, st)
			if st.Pinned != 0 || st.Mapped > 1 {
				t.Errorf("slots %d ro %v: after the batch %+v", slots, ro, st)
			}
			if ro {
				m.Close()
			}
			w.Close()
		}
	}
}
