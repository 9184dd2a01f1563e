package chunkmap

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestBatchEpoch_WindowCachedAfterClosedFlag: the read path of Batch.slow
// checks m.live between its two revalidates, and hold() of a chunk the
// batch already holds checks nothing else. Close's bracket (beginShrink;
// live.Store(false); endShrink, the exact sequence in Manager.Close)
// landing between the two must not leave a read window in the post-Close
// epoch, through which Bytes would keep succeeding after Close. The flag
// is flipped here with Close's own sequence (and back, inside a bracket)
// because the real Close can only be raced once per Manager.
func TestBatchEpoch_WindowCachedAfterClosedFlag(t *testing.T) {
	m := openEpochRace(t, 1)
	tries, e := raceWindow(t, m, false, func(on bool) {
		m.beginShrink() // as Close does
		m.live.Store(!on)
		m.endShrink()
	}, func() bool { return !m.live.Load() })
	if e != 0 {
		t.Errorf("after %d tries: Bytes = nil error with m.live cleared (window cached in epoch %d)", tries, e)
	}
	m.Close()
}

// raceWindow flips a state of m on and off in another goroutine, with set
// (which changes it as the Manager does), while batches force their slow
// path at offset 8, for reading or (write) storing. Whenever that leaves a
// window standing in the current epoch with the state on, a second call at
// offset 16 must fail; raceWindow returns the tries made and, if one did
// not fail, the epoch its window stood in (else 0). It runs for at most 2
// seconds and leaves the state off.
func raceWindow(t *testing.T, m *Manager, write bool, set func(on bool), on func() bool) (tries int, epoch uint64) {
	t.Helper()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			set(true)
			for i := 0; i < 50; i++ {
				runtime.Gosched()
			}
			set(false) // inside a bracket: windows set before are dropped
		}
	}()
	access := (*Batch).Bytes
	if write {
		access = (*Batch).WritableBytes
	}
	deadline := time.Now().Add(2 * time.Second)
	for epoch == 0 && time.Now().Before(deadline) {
		m.Batch(func(b *Batch) error {
			for i := 0; i < 1000 && epoch == 0; i++ {
				b.setWindow(false, 0, 0, nil) // the slow path every time
				b.setWindow(true, 0, 0, nil)
				clear(b.st.runs[:])
				tries++
				if _, err := access(b, 8, 8); err != nil {
					continue
				}
				e, n := m.shrinks.Load(), b.n
				if write {
					n = b.wn
				}
				if n == 0 || e != b.epoch || m.shrinking.Load() != 0 || !on() {
					continue
				}
				if p, err := access(b, 16, 8); m.shrinks.Load() == e && err == nil && p != nil {
					epoch = e
				}
			}
			return nil
		})
	}
	stop.Store(true)
	<-done
	set(false)
	t.Logf("tries %d, found %v", tries, epoch != 0)
	return tries, epoch
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
