package chunkmap_test

import (
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestPinFallingBackToViewKeepsBound: a Pin across chunks holds them in
// their arena slots one by one; when a later one's slot is held by another
// chunk it lets the earlier ones go and maps a private view instead. The
// chunks it let go were mapped past MaxMapped while held, so letting them go
// must evict down to the bound: Mapped <= MaxMapped + Pinned at once, and
// MaxMapped once every pin is released.
func TestPinFallingBackToViewKeepsBound(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 4 * cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(8 * cs); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("sixth"), 6*cs); err != nil {
		t.Fatal(err)
	}
	p6, err := m.Pin(6*cs, 5) // chunk 6 holds slot 2
	if err != nil {
		t.Fatal(err)
	}
	// Chunks 0 and 1 are held in slots 0 and 1, then chunk 2 finds slot 2
	// held: the Pin maps all three in a view.
	p, err := m.Pin(0, 2*cs+1)
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Mapped > 1+st.Pinned {
		t.Errorf("with a Pin in a view: Mapped %d > MaxMapped 1 + Pinned %d: %+v", st.Mapped, st.Pinned, st)
	}
	if got := string(p6.Bytes()); got != "sixth" {
		t.Errorf("chunk 6 pinned reads %q", got)
	}
	p.Release()
	p6.Release()
	if st := m.Stats(); st.Mapped > 1 || st.Pinned != 0 {
		t.Errorf("with nothing pinned: Mapped %d, Pinned %d, want at most 1 and 0: %+v", st.Mapped, st.Pinned, st)
	}
}

// TestAtomicMissesKeepBound checks the bound with atomics that miss: each
// holds the chunk it maps for the length of its operation, so with g
// goroutines running atomics over more chunks than MaxMapped, Mapped stays
// within MaxMapped + g (and Pinned counts the holds), and once they stop,
// the last release evicts down to MaxMapped, with every add counted.
func TestAtomicMissesKeepBound(t *testing.T) {
	const cs, chunks, g = chunkmap.MinChunkSize, 16, 8
	each := 2000
	if testing.Short() || raceEnabled {
		each = 600 // still misses on nearly every add: MaxMapped is 1 of 16
	}
	for _, noAdmission := range []bool{false, true} {
		m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: noAdmission})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Truncate(chunks * cs); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for k := range g {
			wg.Go(func() {
				for i := range each {
					if _, err := m.AddUint64(int64((k+i)%chunks)*cs, 1); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		worst := chunkmap.Stats{}
	watch:
		for {
			select {
			case <-done:
				break watch
			default:
			}
			st := m.Stats()
			if st.Mapped > worst.Mapped {
				worst = st
			}
			if st.Mapped > 1+g {
				t.Errorf("NoAdmission %v: %d chunks mapped with MaxMapped 1 and %d goroutines running atomics: %+v", noAdmission, st.Mapped, g, st)
				break
			}
		}
		<-done
		t.Logf("NoAdmission %v: most mapped while the atomics ran: %+v", noAdmission, worst)
		if st := m.Stats(); st.Mapped > 1 || st.Pinned != 0 {
			t.Errorf("NoAdmission %v: after the atomics: %d mapped, %d held; want at most MaxMapped (1) and none", noAdmission, st.Mapped, st.Pinned)
		}
		var sum uint64
		for c := range chunks {
			x, err := m.LoadUint64(int64(c) * cs)
			if err != nil {
				t.Fatal(err)
			}
			sum += x
		}
		if sum != uint64(g*each) {
			t.Errorf("NoAdmission %v: the words sum to %d, want %d adds", noAdmission, sum, g*each)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
