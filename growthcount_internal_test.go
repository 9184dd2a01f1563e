package chunkmap

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGrowthCount_AfterResizeWait checks that a growth whose size another
// call changed, while the growth waited for resize, is counted as it is
// made: one of more than fileRun chunk files lets go of mu between runs of
// them. The other call waits for resize ahead of the growth (the test
// holds resize for reading, as a write under way would), and runs first:
//   - a small write at the last of 40 chunks, which needed no growth when
//     it began, behind a Truncate to one chunk: it grows by 39 files. It
//     decided how to take resize before it took it, took it for reading,
//     and made all 39 holding mu.
//   - a Grow by 40 chunks of an empty dataset, which read Size 0 before a
//     Truncate to 100 chunks: it grows from 100 to 140. It counted its
//     files against the Size it read (none past Size), and made all 40
//     holding mu.
func TestGrowthCount_AfterResizeWait(t *testing.T) {
	const cs = MinChunkSize
	for _, tc := range []struct {
		name   string
		size   int64 // before
		cut    int64 // the Truncate's Size
		grow   func(m *Manager) error
		chunks int
	}{
		{"write-after-shrink", 40 * cs, cs, func(m *Manager) error { _, err := m.WriteAt([]byte{1}, 39*cs); return err }, 40},
		{"grow-after-extend", 0, 100 * cs, func(m *Manager) error { return m.Grow(40 * cs) }, 140},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(t.TempDir(), &Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.Truncate(tc.size); err != nil {
				t.Fatal(err)
			}
			var (
				truncated atomic.Bool
				pauses    atomic.Int64 // the growth's: after the Truncate returned
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
				err := m.Truncate(tc.cut)
				truncated.Store(true)
				terr <- err
			}()
			// Once the Truncate waits for resize, no reader gets it
			// before it.
			for m.resize.TryRLock() {
				m.resize.RUnlock()
				time.Sleep(time.Millisecond)
			}
			gerr := make(chan error, 1)
			go func() { gerr <- tc.grow(m) }()
			// Time for the growth to reach resize, where it waits. (Had
			// it not, it would count its files after the Truncate, and
			// pause: the test can pass when it should not, never fail
			// when it should not.)
			time.Sleep(50 * time.Millisecond)
			m.resize.RUnlock()
			if err := <-terr; err != nil {
				t.Fatal(err)
			}
			if err := <-gerr; err != nil {
				t.Fatal(err)
			}
			if got := m.Stats().Chunks; got != tc.chunks {
				t.Fatalf("Stats.Chunks = %d after the growth, want %d", got, tc.chunks)
			}
			if pauses.Load() == 0 {
				t.Fatalf("the growth to %d chunks, made large by a Truncate while it waited for resize, never let go of mu", tc.chunks)
			}
			t.Logf("the growth paused %d times", pauses.Load())
		})
	}
}

// TestGrowthCount_GrowBesideWrite checks a Grow by 26 chunks beside a
// write that raises Size, within the 10 chunks an earlier Grow made, as
// the Grow begins: the Grow grows from the new Size, by 26 files, and must
// let go of mu between runs of them. It counted them against the Size it
// read before (16 past the spare chunks: not more than fileRun), and made
// all 26 holding mu.
func TestGrowthCount_GrowBesideWrite(t *testing.T) {
	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var pauses atomic.Int64
	pauseHook = func(int64) { pauses.Add(1) }
	defer func() { pauseHook = nil }()
	for try := range 300 {
		if err := m.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if err := m.Grow(10 * cs); err != nil {
			t.Fatal(err)
		}
		pauses.Store(0)
		var wg sync.WaitGroup
		var gerr, werr error
		wg.Go(func() { gerr = m.Grow(26 * cs) })
		wg.Go(func() { _, werr = m.WriteAt([]byte{1}, 10*cs-1) })
		wg.Wait()
		if gerr != nil || werr != nil {
			t.Fatalf("try %d: Grow: %v; WriteAt: %v", try, gerr, werr)
		}
		if m.Stats().Chunks == 36 && pauses.Load() == 0 {
			t.Fatalf("try %d: the Grow made 26 chunk files (from the Size the write set) holding mu throughout", try)
		}
	}
}
