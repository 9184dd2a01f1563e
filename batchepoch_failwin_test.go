package chunkmap

import (
	"errors"
	"testing"
)

// TestBatchEpoch_WindowCachedAfterFail: slow() checks m.failed (checkWrite)
// between its two revalidates. A fail() whose whole bracket falls between
// them must not leave a writable window in the post-failure epoch, through
// which later WritableBytes calls would succeed from the fast path although
// the Manager has failed: slow caches only if the epoch did not move.
func TestBatchEpoch_WindowCachedAfterFail(t *testing.T) {
	m := openEpochRace(t, 2)
	defer m.Close()
	failure := errors.New("injected")
	tries, e := raceWindow(t, m, true, func(on bool) {
		if on {
			m.fail(failure)
			return
		}
		m.beginShrink() // undone as fail does it
		m.failed.Store(nil)
		m.endShrink()
	}, func() bool { return m.failed.Load() != nil })
	if e != 0 {
		t.Errorf("after %d tries: WritableBytes = nil error with a Sync failed (window cached in epoch %d)", tries, e)
	}
}
