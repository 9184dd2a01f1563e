package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

func TestLifecycle_FollowersCloseRacingEverything(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	const cs = chunkmap.MinChunkSize
	for round := 0; round < 15; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		dir := t.TempDir()
		w := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 2 * cs})
		if _, err := w.WriteAt(make([]byte, 4*cs), 0); err != nil {
			t.Fatal(err)
		}
		var fs []*chunkmap.Manager
		for i := 0; i < 2; i++ {
			fs = append(fs, advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true, MaxMapped: 1, ArenaSize: cs}))
		}
		all := append([]*chunkmap.Manager{w}, fs...)
		var wg sync.WaitGroup
		for g := 0; g < 6; g++ {
			m := all[g%3]
			r := rand.New(rand.NewPCG(seed, uint64(round*100+g)))
			advGo(t, &wg, "worker", func() {
				for i := 0; i < 300; i++ {
					off := r.Int64N(6 * cs)
					var err error
					switch r.IntN(9) {
					case 0:
						_, err = m.ReadAt(make([]byte, r.IntN(2*cs)), off)
					case 1:
						var p *chunkmap.Pinned
						if p, err = m.Pin(off, r.IntN(2*cs)); err == nil {
							_ = p.Bytes()
							go p.Release()
						}
					case 2:
						err = m.Batch(func(b *chunkmap.Batch) error {
							if err := b.Hold(off, int64(r.IntN(3*cs))); err != nil {
								return err
							}
							_, err := b.Bytes(off, r.IntN(cs))
							return err
						})
					case 3:
						_, err = m.LoadUint64(off &^ 7)
					case 4:
						err = m.Refresh()
					case 5:
						if m == w {
							err = w.Truncate(r.Int64N(6 * cs))
						}
					case 6:
						if m == w {
							_, err = w.WriteAt(make([]byte, r.IntN(2*cs)), off)
						}
					case 7:
						if m == w {
							err = w.DropBefore(r.Int64N(w.Size() + 1))
						}
					case 8:
						err = m.Gather(make([]byte, 8*4), []int64{off, off + 8, 0, cs}, 8)
					}
					if err != nil && err != io.EOF {
						if errors.Is(err, chunkmap.ErrClosed) {
							return
						}
						if !errors.Is(err, chunkmap.ErrOutOfRange) {
							t.Errorf("op: %v", err)
							return
						}
					}
				}
			})
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		var cwg sync.WaitGroup
		for _, m := range all {
			advGo(t, &cwg, "close", func() {
				if err := m.Close(); err != nil && !errors.Is(err, chunkmap.ErrBusy) {
					t.Errorf("close: %v", err)
				}
			})
		}
		advWait(t, &cwg, time.Minute, "close")
		advWait(t, &wg, time.Minute, "workers")
		time.Sleep(10 * time.Millisecond)
		for i, m := range all {
			if st := m.Stats(); st.Pinned != 0 || st.Mapped != 0 {
				t.Errorf("round %d manager %d: %+v", round, i, st)
			}
		}
		m := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
		m.Close()
	}
}
