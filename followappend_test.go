package chunkmap_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// openFollowing opens a writer with chunks of the smallest size on a new
// directory, and a read-only Manager that follows it; the test's cleanup
// closes both.
func openFollowing(tb testing.TB) (w, r *chunkmap.Manager) {
	tb.Helper()
	dir := tb.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	if r, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return w, r
}

// TestFollow_AppendsReadBackBesideDrops has goroutines append records
// through a writer and read each back at once through a follower of the
// same process, while another goroutine drops old chunks (each drop moves
// the writer's epoch, so the follower's pulls take the page under its lock
// while other pulls raise its Size without it). An Append that returned is
// in the page: the follower's read after it must return every byte, never
// io.EOF. A follower once took a raised Size back to the one it had loaded
// under its lock before the raise, and the read found its bytes past Size.
func TestFollow_AppendsReadBackBesideDrops(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_SEED")
	const cs = chunkmap.MinChunkSize
	w, r := openFollowing(t)

	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		appends atomic.Int64
		drops   atomic.Int64
		// low[g] is at most the offset goroutine g appends at, and
		// reads back, until it has read it: the drops stay below.
		low [4]atomic.Int64
	)
	for g := range low {
		low[g].Store(math.MaxInt64)
	}
	// It runs for 300 ms and at least minDrops drops, or until the
	// watchdog: a machine that stalls the test does not fail it.
	const minDrops = 10
	began := time.Now()
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for !stop.Load() {
				rec := make([]byte, 1+rng.IntN(3000))
				for i := range rec {
					rec[i] = byte(rng.Uint32()) | 1
				}
				low[g].Store(w.Size())
				off, err := w.Append(rec)
				if err != nil {
					t.Errorf("append %d bytes: %v", len(rec), err)
					stop.Store(true)
					return
				}
				appends.Add(1)
				got := make([]byte, len(rec))
				if n, err := r.ReadAt(got, off); err != nil || n != len(rec) || !bytes.Equal(got, rec) {
					t.Errorf("goroutine %d: %d bytes appended at %d (Size now %d): the follower's read returned %d bytes, %v, equal %v",
						g, len(rec), off, w.Size(), n, err, bytes.Equal(got, rec))
					stop.Store(true)
					return
				}
				low[g].Store(math.MaxInt64)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if since := time.Since(began); since > 300*time.Millisecond && drops.Load() >= minDrops || since > time.Minute {
				stop.Store(true)
				return
			}
			// Size first: an appender that announces itself after
			// the look below appends at or past it.
			keep := w.Size()
			for g := range low {
				keep = min(keep, low[g].Load())
			}
			if keep &^= cs - 1; keep > w.Start() {
				if err := w.DropBefore(keep); err != nil {
					t.Errorf("drop before %d: %v", keep, err)
					stop.Store(true)
					return
				}
				drops.Add(1)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	wg.Wait()
	t.Logf("%d appends read back, %d drops", appends.Load(), drops.Load())
	if drops.Load() < minDrops && !t.Failed() {
		t.Errorf("%d drops ran beside the appends in a minute; want %d", drops.Load(), minDrops)
	}
}
