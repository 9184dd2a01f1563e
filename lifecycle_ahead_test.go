package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestLifecycle_GrowthRacingCloseLeavesNoFiles: bulk writes that grow by many
// chunks (made ahead by the maker) race Close and Truncate; afterwards no
// goroutine of the Manager runs and no chunk file lies past Size.
func TestLifecycle_GrowthRacingCloseLeavesNoFiles(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	const cs = chunkmap.MinChunkSize
	base := runtime.NumGoroutine()
	for round := 0; round < 20; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		dir := t.TempDir()
		m := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			r := rand.New(rand.NewPCG(seed, uint64(round*10+g)))
			advGo(t, &wg, "writer", func() {
				buf := make([]byte, 40*cs)
				for i := 0; i < 20; i++ {
					n := r.IntN(len(buf))
					var err error
					switch r.IntN(4) {
					case 0:
						_, err = m.Append(buf[:n])
					case 1:
						_, err = m.WriteAt(buf[:n], r.Int64N(60*cs))
					case 2:
						err = m.Truncate(r.Int64N(60 * cs))
					case 3:
						err = m.Grow(r.Int64N(60 * cs))
					}
					if err != nil {
						if errors.Is(err, chunkmap.ErrClosed) {
							return
						}
						t.Errorf("op: %v", err)
						return
					}
				}
			})
		}
		time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		advWait(t, &wg, time.Minute, "writers")
		m2 := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
		size, start := m2.Size(), m2.Start()
		if err := m2.Close(); err != nil {
			t.Fatal(err)
		}
		ents, _ := filepath.Glob(filepath.Join(dir, "*.chunk"))
		want := int((size+cs-1)/cs - start/cs)
		if len(ents) > want {
			t.Errorf("round %d: %d chunk files for size %d (want <= %d)", round, len(ents), size, want)
		}
		_ = os.RemoveAll(dir)
	}
	// Goroutines that returned may take a moment to be counted out on a
	// loaded host; one that leaked never is.
	for deadline := time.Now().Add(time.Minute); runtime.NumGoroutine() > base+2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d, base %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
