package accessor_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"errors"
	"iter"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

func TestLifecycle_ScansRaceCloseAndPull(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	for round := 0; round < 30; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		const n = 6 * advCS / 8
		m, va, dir := advScanSetup(t, n, &chunkmap.Options{ChunkSize: advCS, MaxMapped: 1, ArenaSize: 2 * advCS})
		f := advOpen(t, dir, &chunkmap.Options{ChunkSize: advCS, ReadOnly: true, MaxMapped: 1, ArenaSize: advCS})
		fa := accessor.New(f, nil)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			r := rand.New(rand.NewPCG(seed, uint64(100*round+g)))
			a := va
			if g%2 == 1 {
				a = fa
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					s := a.Scan()
					switch r.IntN(4) {
					case 0:
						for off, x := range s.Uint64s(0, n) {
							if x != uint64(off/8)*3+1 {
								t.Errorf("value at %d: %d", off, x)
								return
							}
						}
					case 1:
						for off, b := range s.Blocks(0, 6*advCS) {
							_ = off
							_ = b[len(b)-1]
							s2 := a.Scan()
							for range s2.Blocks(off, int64(len(b))) {
								break
							}
						}
					case 2:
						next, stop := iter.Pull2(s.Blocks(0, 6*advCS))
						next()
						next()
						stop()
					case 3:
						_ = a.Batch(func(b *accessor.Batch) error {
							for off, x := range s.Uint32s(int64(r.IntN(1000))*4, 3000) {
								if _, err := b.ReadUint64(off &^ 7); err != nil {
									return err
								}
								_ = x
							}
							return nil
						})
					}
					if err := s.Err(); err != nil {
						if !errors.Is(err, chunkmap.ErrClosed) && !errors.Is(err, chunkmap.ErrOutOfRange) {
							t.Errorf("scan: %v", err)
						}
					}
				}
			}()
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if rng.IntN(2) == 0 {
			if err := m.Truncate(int64(rng.IntN(6 * advCS))); err != nil {
				t.Error(err)
			}
		}
		errC := m.Close()
		errF := f.Close()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("hang")
		}
		for _, e := range []error{errC, errF} {
			if e != nil && !errors.Is(e, chunkmap.ErrBusy) {
				t.Errorf("close: %v", e)
			}
		}
		if st := m.Stats(); st.Pinned != 0 || st.Mapped != 0 {
			t.Errorf("writer after: %+v", st)
		}
		if st := f.Stats(); st.Pinned != 0 || st.Mapped != 0 {
			t.Errorf("follower after: %+v", st)
		}
	}
}
