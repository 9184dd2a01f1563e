package chunkmap

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestBatchEpoch_WindowCachedAfterClosedFlag: the read path of Batch.slow
// checks m.closed between its two revalidates, and hold() of a chunk the
// batch already holds checks nothing else. Close's bracket (beginShrink;
// closed.Store(true); endShrink, the exact sequence in Manager.Close)
// landing between the two must not leave a read window in the post-Close
// epoch, through which Bytes would keep succeeding after Close. The flag
// is flipped here with Close's own sequence (and back, inside a bracket)
// because the real Close can only be raced once per Manager.
func TestBatchEpoch_WindowCachedAfterClosedFlag(t *testing.T) {
	m := openEpochRace(t, 1)
	var stop, found atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			m.beginShrink() // as Close does
			m.closed.Store(true)
			m.endShrink()
			for i := 0; i < 50; i++ {
				runtime.Gosched()
			}
			m.beginShrink()
			m.closed.Store(false)
			m.endShrink()
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	tries := 0
	for !found.Load() && time.Now().Before(deadline) {
		m.Batch(func(b *Batch) error {
			for i := 0; i < 1000 && !found.Load(); i++ {
				b.n, b.wn = 0, 0
				clear(b.st.runs[:])
				tries++
				if _, err := b.Bytes(8, 8); err != nil {
					continue
				}
				e := m.shrinks.Load()
				if b.n == 0 || e != b.epoch || m.shrinking.Load() != 0 || !m.closed.Load() {
					continue
				}
				p, err := b.Bytes(16, 8)
				if m.shrinks.Load() == e && err == nil && p != nil {
					t.Errorf("after %d tries: Bytes = nil error with m.closed set (window cached in epoch %d)", tries, e)
					found.Store(true)
				}
			}
			return nil
		})
	}
	stop.Store(true)
	<-done
	m.closed.Store(false)
	m.Close()
	t.Logf("tries %d, found %v", tries, found.Load())
}

// openEpochRace opens a dataset of 64 KiB chunks holding chunks bytes of
// ones, for a test that races a batch against changes of the epoch; it
// skips where the race cannot run in parallel.
func openEpochRace(t *testing.T, chunks int) *Manager {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs 2 Ps")
	}
	m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, MaxMapped: 8, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(bytes.Repeat([]byte{1}, chunks*MinChunkSize)); err != nil {
		t.Fatal(err)
	}
	return m
}
