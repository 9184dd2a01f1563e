package chunkmap_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestManager_GatherScatter stores and loads values at random offsets
// (boundaries included) with Scatter and Gather while other goroutines
// churn the LRU, so that mappings are retired under the copy loops, and
// checks every value.
func TestManager_GatherScatter(t *testing.T) {
	const (
		chunkSize = 64 << 10
		nchunks   = 12
		size      = nchunks * chunkSize
	)
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: 2, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(size); err != nil {
		t.Fatal(err)
	}
	// Slot k of writer w is at offset (k*4+w)*8 + shift: writers never
	// overlap, and a shift of 3 makes some values straddle boundaries.
	const writers, slots = 4, size/8/4 - 1
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() { // LRU churn
			buf := make([]byte, 8)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.ReadAt(buf, int64(i%nchunks)*chunkSize+100); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var workers sync.WaitGroup
	for w := range writers {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			offs := make([]int64, 400)
			vals := make([]byte, 8*len(offs))
			got := make([]byte, len(vals))
			for round := range 8 {
				perm := r.Perm(slots)
				for i := range offs {
					offs[i] = int64(perm[i]*4+w)*8 + 3
				}
				for i := range len(offs) {
					binary.LittleEndian.PutUint64(vals[i*8:], uint64(round)<<32|uint64(offs[i]))
				}
				if err := m.Scatter(vals, offs, 8); err != nil {
					t.Errorf("writer %d: Scatter: %v", w, err)
					return
				}
				if err := m.Gather(got, offs, 8); err != nil {
					t.Errorf("writer %d: Gather: %v", w, err)
					return
				}
				for i := range offs {
					if g, want := binary.LittleEndian.Uint64(got[i*8:]), binary.LittleEndian.Uint64(vals[i*8:]); g != want {
						t.Errorf("writer %d round %d: value at %d = %#x, want %#x", w, round, offs[i], g, want)
						return
					}
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if st := m.Stats(); st.Evictions == 0 {
		t.Errorf("no evictions happened: %+v", st)
	}
}

func TestManager_GatherErrors(t *testing.T) {
	m := newBenchlessManager(t)
	buf := make([]byte, 64)
	for _, tc := range []struct {
		name string
		offs []int64
		n    int
	}{
		{"past size", []int64{0, 996}, 8},
		{"negative", []int64{-1}, 8},
		{"huge", []int64{1 << 62}, 4},
		{"overflow", []int64{1<<63 - 2}, 8},
		{"zero size", []int64{0}, 0},
		{"buffer too small", []int64{0, 8, 16, 24, 32, 40, 48, 56, 64}, 8},
	} {
		if err := m.Gather(buf, tc.offs, tc.n); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("%s: Gather = %v, want ErrOutOfRange", tc.name, err)
		}
		if err := m.Scatter(buf, tc.offs, tc.n); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("%s: Scatter = %v, want ErrOutOfRange", tc.name, err)
		}
	}
	if m.Size() != 1000 {
		t.Errorf("Size = %d after refused scatters, want 1000", m.Size())
	}
}

// newBenchlessManager returns an open Manager of 1000 zero bytes.
func newBenchlessManager(t *testing.T) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Truncate(1000); err != nil {
		t.Fatal(err)
	}
	return m
}
