package chunkmap_test

// A program's tests may run in testing/synctest bubbles, and a Manager may
// be used from inside and outside a bubble alike. Whatever the library
// keeps beyond one call (pooled objects) or shares between the callers of
// one Manager (its waits) must not tie a goroutine to a bubble: across a
// bubble's edge a channel, a WaitGroup or a sync.Cond panics or ends the
// process with a fatal error.

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/chunkmap/chunkmap"
)

// spreadAppend appends n bytes of pattern seed to a new Manager of 64 KiB
// chunks, in one Append that spans enough chunks to be written on two
// goroutines (spread.go), and checks them.
func spreadAppend(t *testing.T, seed uint64, n int) {
	t.Helper()
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs})
	p := pattern(seed, n)
	off, err := m.Append(p)
	if err != nil {
		t.Fatalf("Append(%d bytes): %v", n, err)
	}
	if got := readAt(t, m, off, n); !bytes.Equal(got, p) {
		t.Fatalf("Append(%d bytes): the bytes read back differ from byte %d on", n, firstDiff(got, p))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSynctest_SpreadWritesInAndOutOfBubbles makes spread writes inside
// bubbles and outside them in turn. A spread write's pass was pooled with
// its channel and WaitGroup: made inside a bubble, they belonged to it,
// and the next pass outside that took them from the pool ended the
// process ("fatal error: send on synctest channel from outside bubble").
// One P, so that the pool hands the pass back to the next write.
func TestSynctest_SpreadWritesInAndOutOfBubbles(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for round := range 4 {
		synctest.Test(t, func(t *testing.T) { spreadAppend(t, uint64(2*round), 32*cs) })
		spreadAppend(t, uint64(2*round+1), 32*cs)
	}
}

// TestSynctest_ManagerSharedWithABubble appends to one Manager from a
// bubble and from outside it at once, small appends on one side and large
// ones (many chunks each, made ahead by the Manager's maker and written on
// two goroutines) on the other, then each way round. A small append that
// finishes before a larger one reserved before it waits for that one to
// publish; with a sync.Cond that wait, inside the bubble, counted as
// durably blocked, and synctest.Test panicked ("all goroutines in bubble
// are blocked") while the large append outside was still being written,
// or the wake from outside ended the process.
func TestSynctest_ManagerSharedWithABubble(t *testing.T) {
	const small, large, larges = 100, 40 * cs, 6
	for _, bubbleLarge := range []bool{false, true} {
		m := newTestManager(t, &chunkmap.Options{ChunkSize: cs})
		type written struct {
			off  int64
			seed uint64
			n    int
		}
		var mu sync.Mutex
		var all []written
		appendSeed := func(t *testing.T, seed uint64, n int) {
			t.Helper()
			off, err := m.Append(pattern(seed, n))
			if err != nil {
				t.Errorf("Append(%d bytes): %v", n, err)
				return
			}
			mu.Lock()
			all = append(all, written{off, seed, n})
			mu.Unlock()
		}
		// The large appends run on one side until done; the small ones
		// on the other until then.
		largeSide := func(t *testing.T, done chan<- struct{}) {
			defer close(done)
			for i := range larges {
				appendSeed(t, uint64(1000+i), large)
			}
		}
		smallSide := func(t *testing.T, stop <-chan struct{}) {
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						appendSeed(t, uint64(1<<20+g<<16+i), small)
					}
				})
			}
			wg.Wait()
		}
		done := make(chan struct{})
		if bubbleLarge {
			var outside sync.WaitGroup
			stop := make(chan struct{})
			outside.Go(func() { smallSide(t, stop) })
			synctest.Test(t, func(t *testing.T) { largeSide(t, done) })
			close(stop)
			outside.Wait()
		} else {
			go largeSide(t, done)
			synctest.Test(t, func(t *testing.T) {
				// done is the outside's: the bubble polls it.
				var wg sync.WaitGroup
				stop := make(chan struct{})
				wg.Go(func() { smallSide(t, stop) })
				for {
					select {
					case <-done:
						close(stop)
						wg.Wait()
						return
					default:
						runtime.Gosched()
					}
				}
			})
		}
		if t.Failed() {
			return
		}
		for _, w := range all {
			if got, want := readAt(t, m, w.off, w.n), pattern(w.seed, w.n); !bytes.Equal(got, want) {
				t.Fatalf("large appends in the bubble: %v: the %d bytes appended at %d differ from byte %d on", bubbleLarge, w.n, w.off, firstDiff(got, want))
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSynctest_WorkloadInABubble runs a Manager's whole life inside a
// bubble: Open, concurrent large and small appends, writes, reads, a
// Batch, a Pin, Sync, Truncate, DropBefore and Close. synctest.Test panics
// if every goroutine of the bubble is durably blocked at once, and fails
// the test if one is left when its function returns: a wait of the
// library's on a channel, WaitGroup or sync.Cond that only a goroutine
// outside the call could end, or a goroutine of its that outlives the
// Manager, fails it.
func TestSynctest_WorkloadInABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 8 {
					n := 100
					if (g+i)%3 == 0 {
						n = 20 * cs // made ahead and written on two goroutines
					}
					p := pattern(uint64(g<<8+i), n)
					off, err := m.Append(p)
					if err != nil {
						t.Errorf("Append(%d bytes): %v", n, err)
						return
					}
					if got := readAt(t, m, off, n); !bytes.Equal(got, p) {
						t.Errorf("the %d bytes appended at %d read back differently from byte %d on", n, off, firstDiff(got, p))
					}
					if i%4 == 1 {
						if err := m.Sync(); err != nil {
							t.Errorf("Sync: %v", err)
						}
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if err := m.Batch(func(b *chunkmap.Batch) error {
			_, err := b.Bytes(m.Size()-cs-8, 16) // across a chunk boundary
			return err
		}); err != nil {
			t.Fatalf("Batch: %v", err)
		}
		pin, err := m.Pin(3*cs-8, 16)
		if err != nil {
			t.Fatalf("Pin: %v", err)
		}
		pin.Release()
		if err := m.Truncate(m.Size() - 3*cs); err != nil {
			t.Fatalf("Truncate: %v", err)
		}
		if err := m.DropBefore(2 * cs); err != nil {
			t.Fatalf("DropBefore: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}
