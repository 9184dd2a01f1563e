package chunkmap

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestBatchEpoch_WindowCachedAfterFail: slow() checks m.failed (checkWrite)
// between its two revalidates. A fail() whose whole bracket falls between
// them must not leave a writable window in the post-failure epoch, through
// which later WritableBytes calls would succeed from the fast path although
// the Manager has failed: slow caches only if the epoch did not move.
func TestBatchEpoch_WindowCachedAfterFail(t *testing.T) {
	m := openEpochRace(t, 2)
	defer m.Close()
	var stop, found atomic.Bool
	var fails atomic.Int64
	go func() {
		for !stop.Load() {
			m.fail(errors.New("injected"))
			fails.Add(1)
			for i := 0; i < 50; i++ {
				runtime.Gosched()
			}
			// Undo it inside a bracket, so that windows set before are dropped.
			m.beginShrink()
			m.failed.Store(nil)
			m.endShrink()
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	tries := 0
	for !found.Load() && time.Now().Before(deadline) {
		m.Batch(func(b *Batch) error {
			for i := 0; i < 1000 && !found.Load(); i++ {
				// Force the slow path every time.
				b.n, b.wn = 0, 0
				clear(b.st.runs[:])
				tries++
				if _, err := b.WritableBytes(8, 8); err != nil {
					continue
				}
				e := m.shrinks.Load()
				if b.wn == 0 || e != b.epoch || m.shrinking.Load() != 0 || m.failed.Load() == nil {
					continue
				}
				// The window stands in an epoch that began after failed was
				// set: the fast path now hands out writable bytes.
				p, err := b.WritableBytes(16, 8)
				if m.shrinks.Load() == e && err == nil && p != nil {
					t.Errorf("after %d tries: WritableBytes = nil error with m.failed = %v (window cached in epoch %d)", tries, *m.failed.Load(), e)
					found.Store(true)
				}
			}
			return nil
		})
	}
	stop.Store(true)
	t.Logf("tries %d, fails %d, found %v", tries, fails.Load(), found.Load())
	m.failed.Store(nil)
}
