package accessor_test

// Scans across a testing/synctest bubble's edge: a following reader's
// Scanner (typed and block scans, ranged over and through iter.Pull, with
// loop bodies that sleep on the bubble's clock) inside a bubble while its
// writer appends, truncates and drops outside it, and a writer's scans
// inside one while a follower scans outside. It finds no bug; it fails
// (a panic, a fatal error, a hang the watchdog reports) if a scan, or a
// shrink that overtakes one, waits for something the other side ends, or
// for a block a suspended scan still holds.

import (
	"errors"
	"iter"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// scanRounds scans all of m, rounds times, each block scan suspended for a
// millisecond of the caller's clock per block.
func scanRounds(t *testing.T, m *chunkmap.Manager, rounds int, pull bool) {
	t.Helper()
	va := accessor.New(m, nil)
	for range rounds {
		if err := m.Refresh(); err != nil {
			t.Errorf("Refresh: %v", err)
			return
		}
		start, size := m.Start(), m.Size()
		sc := va.Scan()
		if pull {
			next, stop := iter.Pull2(sc.Blocks(start, size-start))
			for _, b, ok := next(); ok; _, b, ok = next() {
				_ = b[0]
				time.Sleep(time.Millisecond)
			}
			stop()
			vals, stopVals := iter.Pull2(sc.Uint64s(start, int((size-start)/8)))
			for _, _, ok := vals(); ok; _, _, ok = vals() {
			}
			stopVals()
		} else {
			for _, b := range sc.Blocks(start, size-start) {
				_ = b[0]
				time.Sleep(time.Millisecond)
			}
			for range sc.Uint64s(start, int((size-start)/8)) {
			}
		}
		if err := sc.Err(); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("scan: %v", err)
		}
	}
}

func TestSynctest_ScansAcrossABubble(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	for _, readerInside := range []bool{true, false} {
		dir := t.TempDir()
		w := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
		fill(t, w, 0, 6*cs)
		write := func(t *testing.T) {
			for i := range 12 {
				if _, err := w.Append(make([]byte, 2*cs)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				var err error
				switch i % 3 {
				case 1:
					err = w.Truncate(w.Size() - cs)
				case 2:
					err = w.DropBefore(w.Start() + cs)
				}
				if err != nil {
					t.Errorf("round %d: %v", i, err)
				}
			}
		}
		follow := func(t *testing.T) {
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
			if err != nil {
				t.Error(err)
				return
			}
			var wg sync.WaitGroup
			wg.Go(func() { scanRounds(t, r, 4, true) })
			wg.Go(func() { scanRounds(t, r, 4, false) })
			wg.Wait()
			if err := r.Close(); err != nil {
				t.Errorf("follower's Close: %v", err)
			}
		}
		var outside sync.WaitGroup
		if readerInside {
			outside.Go(func() { write(t) })
			synctest.Test(t, follow)
		} else {
			outside.Go(func() { follow(t) })
			synctest.Test(t, func(t *testing.T) {
				var wg sync.WaitGroup
				wg.Go(func() { write(t) })
				wg.Go(func() { scanRounds(t, w, 4, true) })
				wg.Wait()
			})
		}
		outside.Wait()
		if t.Failed() {
			t.Fatalf("reader inside the bubble: %v", readerInside)
		}
	}
}
