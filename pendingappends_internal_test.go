package chunkmap

import "testing"

// TestPublish_PendingCostsWhatItMerges finishes many appends out of order,
// the earliest last, as happens when thousands of goroutines append at once:
// each waits in pending until Size reaches it. The publish that lets Size
// reach them must look at each pending append about once, not at every
// pending append once for each one it merges: that made each Append cost
// time in proportion to the goroutines appending (3.8 µs an append with
// 100 goroutines, 50 µs with 10,000, most of it scanning pending under mu).
func TestPublish_PendingCostsWhatItMerges(t *testing.T) {
	const n, rec = 4096, 8
	m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// What Append does, but for the write: the bytes stay the zeros the
	// reservation left, which is all this test reads.
	m.resize.RLock()
	defer m.resize.RUnlock()
	claims := make([]claim, n)
	for i := range claims {
		m.mu.Lock()
		off := m.mu.reserved
		claims[i], err = m.claimLocked(off, off+rec, false)
		m.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := n - 1; i > 0; i-- {
		if covered, _ := m.publish(claims[i], true, true); covered {
			t.Fatalf("append %d covered before the first one published", i)
		}
	}
	m.mu.Lock()
	before := pendingLooked(m)
	m.mu.Unlock()
	if covered, _ := m.publish(claims[0], true, true); !covered {
		t.Fatal("the first append is not covered by its own publish")
	}
	if got := m.state().size.Load(); got != n*rec {
		t.Fatalf("Size = %d after every append published, want %d", got, n*rec)
	}
	m.mu.Lock()
	looked := pendingLooked(m) - before
	left := pendingLen(m)
	m.mu.Unlock()
	if left != 0 {
		t.Errorf("%d appends still pending after Size covered them all", left)
	}
	if looked > 2*n {
		t.Errorf("the publish that covered %d pending appends looked at them %d times, want at most %d", n-1, looked, 2*n)
	}
}

// pendingLooked is how many pending appends m's publishes have looked at.
//
// REQUIRES: m.mu held.
func pendingLooked(m *Manager) int { return m.mu.pending.looked }

// pendingLen is how many appends wait in m's pending.
//
// REQUIRES: m.mu held.
func pendingLen(m *Manager) int { return len(m.mu.pending.h) }
