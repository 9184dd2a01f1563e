package chunkmap

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestLockGrowth_CountedAfterShrink checks that a small write whose growth
// a shrink made large, while the write waited for resize, lets go of mu
// between runs of the files it makes (see fileRun). The write, at the last
// chunk of 40, needs no growth when it begins; a Truncate to one chunk
// waits for resize ahead of it (the test holds resize for reading, as a
// write under way would), and then runs first, and the write grows by 39
// chunk files. It decided how to take resize before it took it, took it
// for reading, and made all 39 files holding mu; the count is now made
// under resize.
func TestLockGrowth_CountedAfterShrink(t *testing.T) {
	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(40 * cs); err != nil {
		t.Fatal(err)
	}
	var (
		truncated atomic.Bool
		pauses    atomic.Int64 // the write's: after the Truncate returned
	)
	pauseHook = func(int64) {
		if truncated.Load() {
			pauses.Add(1)
		}
	}
	defer func() { pauseHook = nil }()

	m.resize.RLock()
	terr := make(chan error, 1)
	go func() {
		err := m.Truncate(cs)
		truncated.Store(true)
		terr <- err
	}()
	// Once the Truncate waits for resize, no reader gets it before it.
	for m.resize.TryRLock() {
		m.resize.RUnlock()
		time.Sleep(time.Millisecond)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := m.WriteAt([]byte{1}, 39*cs)
		werr <- err
	}()
	// Time for the write to reach resize, where it waits. (Had it not,
	// it would count its growth after the Truncate, and pause: the test
	// can pass when it should not, never fail when it should not.)
	time.Sleep(50 * time.Millisecond)
	m.resize.RUnlock()
	if err := <-terr; err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if got, want := m.Stats().Chunks, 40; got != want {
		t.Fatalf("Stats.Chunks = %d after the write at chunk 39, want %d", got, want)
	}
	if pauses.Load() == 0 {
		t.Fatal("the write's growth by 39 chunk files, made large by a Truncate while the write waited for resize, never let go of mu")
	}
	t.Logf("the write's growth paused %d times", pauses.Load())
}
