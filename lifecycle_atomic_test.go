package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestLifecycle_AtomicStoreRefusedNeverSeen: a store that returned an error
// must never become visible.
func TestLifecycle_AtomicStoreRefusedNeverSeen(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	const cs = chunkmap.MinChunkSize
	for _, slots := range []int64{1, 2, 0} {
		dir := t.TempDir()
		m := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: slots * cs})
		offs := []int64{cs - 8, cs, 2*cs + 64, 3*cs - 8}
		if err := m.Truncate(4 * cs); err != nil {
			t.Fatal(err)
		}
		var refused sync.Map
		var next atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 3; g++ {
			r := rand.New(rand.NewPCG(seed, uint64(g)))
			advGo(t, &wg, "storer", func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					off := offs[r.IntN(len(offs))]
					x := next.Add(1)
					var err error
					switch r.IntN(3) {
					case 0:
						err = m.StoreUint64(off, x)
					case 1:
						_, err = m.CompareAndSwapUint64(off, 0, x)
						if err == nil {
							// may or may not have swapped: not recorded
							continue
						}
					case 2:
						var p *chunkmap.Pinned
						p, err = m.PinWritable(off, 8)
						if err == nil {
							p.Release()
							continue
						}
					}
					if err != nil {
						if !errors.Is(err, chunkmap.ErrOutOfRange) {
							t.Errorf("store: %v", err)
							return
						}
						refused.Store(x, true)
					}
				}
			})
		}
		r := rand.New(rand.NewPCG(seed, 99))
		advGo(t, &wg, "truncater", func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := m.Truncate(r.Int64N(4 * cs)); err != nil {
					t.Errorf("truncate: %v", err)
				}
				if err := m.Truncate(4 * cs); err != nil {
					t.Errorf("truncate: %v", err)
				}
			}
		})
		// Every store tries a value of its own, so a value seen that any
		// store was refused, before the load or after it, is a refused
		// store made visible. (A refusal recorded after the check of the
		// load is caught by a later load, or by the last pass.)
		checks := 0
		check := func(when string) {
			for _, off := range offs {
				v, err := m.LoadUint64(off)
				if err != nil {
					continue
				}
				if _, ok := refused.Load(v); ok {
					t.Fatalf("slots %d: value %d at %d (%s) was refused", slots, v, off, when)
				}
				checks++
			}
		}
		deadline := time.Now().Add(stormFor(time.Second))
		for time.Now().Before(deadline) {
			check("during the stores")
		}
		close(stop)
		advWait(t, &wg, time.Minute, "workers")
		check("after the stores")
		t.Logf("slots %d: %d checks, %d stores", slots, checks, next.Load())
		if st := m.Stats(); st.Pinned != 0 {
			t.Errorf("%+v", st)
		}
		m.Close()
	}
}
