package chunkmap

import (
	"syscall"
	"testing"
)

// TestRelieve_LooksDoNotSlowTheClimb: looks for room that found none while
// a shortage lasted (recoverLocked, where the system counts what the
// process has spare) may wait longer and longer for the next look, but
// once one finds room, the bound must climb back at the pace its refusals
// set, as Options.MaxMapped says ("64 after a first refusal; twice as many
// after each raise the system refused again"): the wait the looks had
// built up was kept for every later raise, so after a shortage of a few
// thousand misses each doubling of the bound waited as long again, and
// after a longer one 16,384 misses each, with a chunk remapped at nearly
// every one of them.
func TestRelieve_LooksDoNotSlowTheClimb(t *testing.T) {
	const cs, chunks, maxMapped = MinChunkSize, 72, 64
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, chunks*cs), 0); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	next := int64(0)
	miss := func() { // a read of the next chunk, round robin: a miss at any bound below chunks
		t.Helper()
		if _, err := m.ReadAt(b[:], next*cs); err != nil {
			t.Fatal(err)
		}
		next = (next + 1) % chunks
	}
	for range maxMapped {
		miss()
	}
	room := false
	defer func(old struct{ maps, files func() (int64, bool) }) { spareCounts = old }(spareCounts)
	spareCounts.files = func() (int64, bool) {
		if room {
			return 1 << 20, true
		}
		return 0, true
	}
	m.mu.Lock()
	m.relieveLocked(syscall.EMFILE)
	m.mu.Unlock()
	// A shortage of some 1,000 misses: four looks find no room.
	for range 16 * chunks {
		miss()
	}
	m.mu.Lock()
	waited := m.mu.lookAfter
	m.mu.Unlock()
	if waited <= 2*raiseFirst {
		t.Fatalf("after a shortage of %d misses, the next look waits %d misses: the looks did not back off", 16*chunks, waited)
	}
	room = true
	var raises []int64 // the misses at each raise
	last := m.Stats().Lowered
	for n := 0; last != 0; n++ {
		if n == 100*chunks {
			t.Fatalf("the bound is still lowered after %d misses with room: %+v", n, m.Stats())
		}
		miss()
		if st := m.Stats(); st.Lowered != last {
			raises, last = append(raises, st.Misses), st.Lowered
		}
	}
	if st := m.Stats(); st.Refusals != 1 {
		t.Fatalf("Refusals %d, want 1", st.Refusals)
	}
	for i := 1; i < len(raises); i++ {
		if gap := raises[i] - raises[i-1]; gap > 2*raiseFirst {
			t.Errorf("raise %d came %d misses after the one before, want at most %d (one refusal, none since): raises at %v", i+1, gap, 2*raiseFirst, raises)
		}
	}
	if len(raises) < 2 {
		t.Fatalf("the bound came back in %d raise, want two or more to time: raises at %v", len(raises), raises)
	}
}
