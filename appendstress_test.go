package chunkmap_test

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestAppend_FailureStress runs concurrent Appends, some of whose pwrites
// fail, with Truncates and DropBefores in between rounds. Every Append that
// returned nil must read back; every byte Size covers must be a byte some
// Append wrote, or zero; nothing may hang.
func TestAppend_FailureStress(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	var fails atomic.Int64
	h := &hookFS{FS: vfs.OS}
	h.hook = func(name string, off int64, n int) error {
		if n >= 4096 && rand.IntN(5) == 0 {
			fails.Add(1)
			return errHook
		}
		return nil
	}
	o := chunkmap.Options{ChunkSize: cs, MaxMapped: 2}
	chunkmap.SetFS(&o, h)
	m, err := chunkmap.Open(t.TempDir(), &o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	type rec struct {
		off int64
		p   []byte
	}
	type trunc struct {
		at    int64
		round int
	}
	var truncs []trunc
	rounds := 30
	if raceEnabled {
		rounds = 15 // the race detector checks every byte read back
	}
	for round := range rounds {
		var mu sync.Mutex
		var ok []rec
		var wg sync.WaitGroup
		done := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					n := 1 + rand.IntN(200)
					if rand.IntN(3) == 0 {
						n = cs/2 + rand.IntN(2*cs)
					}
					p := bytes.Repeat([]byte{byte(1 + round)}, n)
					off, err := m.Append(p)
					if err == nil {
						mu.Lock()
						ok = append(ok, rec{off, p})
						mu.Unlock()
					}
				}
			}()
		}
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("appends hang")
		}
		size := m.Size()
		start := m.Start()
		for _, r := range ok {
			if r.off < start {
				continue
			}
			if r.off+int64(len(r.p)) > size {
				t.Fatalf("round %d: Append at %d of %d bytes returned nil, Size %d", round, r.off, len(r.p), size)
			}
			got := make([]byte, len(r.p))
			if _, err := m.ReadAt(got, r.off); err != nil || !bytes.Equal(got, r.p) {
				t.Fatalf("round %d: Append at %d of %d bytes reads back differently (%v)", round, r.off, len(r.p), err)
			}
		}
		if size > start {
			all := make([]byte, size-start)
			if _, err := m.ReadAt(all, start); err != nil {
				t.Fatal(err)
			}
			// A byte at or past a Truncate's cut is stale if a round up
			// to that Truncate's wrote it: one pass, with the cut that
			// covers each offset and was made latest, found as the
			// offsets pass the cuts (truncs is in round order).
			cuts := slices.Clone(truncs)
			slices.SortFunc(cuts, func(a, b trunc) int { return cmp.Compare(a.at, b.at) })
			var latest *trunc
			for i, next := int64(0), 0; i < int64(len(all)); i++ {
				for ; next < len(cuts) && cuts[next].at <= start+i; next++ {
					if latest == nil || cuts[next].round > latest.round {
						latest = &cuts[next]
					}
				}
				if v := all[i]; latest != nil && v != 0 && int(v) <= latest.round+1 {
					t.Fatalf("round %d: byte at %d is %d, written in round %d before a Truncate to %d in round %d: stale", round, start+i, v, v-1, latest.at, latest.round)
				}
			}
		}
		switch round % 3 {
		case 0:
			at := start + (size-start)/2
			if err := m.Truncate(at); err != nil {
				t.Fatal(err)
			}
			truncs = append(truncs, trunc{at, round})
		case 1:
			if err := m.DropBefore(size / 2); err != nil {
				t.Fatal(err)
			}
		}
		_ = fmt.Sprint()
	}
	t.Logf("%d injected failures", fails.Load())
}
