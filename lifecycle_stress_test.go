package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestLifecycle_OwnedRegionsStorm: goroutines each own a region spanning chunks
// and write it through batches, pins, WriteAt and Scatter, checking reads
// against their own model, while another goroutine truncates past the
// regions and drops chunks before them, with a tiny arena and MaxMapped 1.
func TestLifecycle_OwnedRegionsStorm(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 3 * cs})
	const G = 6
	const R = 5 * cs / 2
	base := int64(4 * cs)
	end := base + G*R
	if err := m.Truncate(end); err != nil {
		t.Fatal(err)
	}
	models := make([][]byte, G)
	for g := range models {
		models[g] = make([]byte, R)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < G; g++ {
		rng := rand.New(rand.NewPCG(seed, uint64(g)))
		md := models[g]
		lo := base + int64(g)*R
		advGo(t, &wg, "worker", func() {
			for i := 0; i < 300; i++ {
				o := rng.IntN(R)
				n := rng.IntN(R - o + 1)
				if rng.IntN(4) == 0 {
					n = min(n, 16)
				}
				data := make([]byte, n)
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				switch rng.IntN(6) {
				case 0:
					err := m.Batch(func(b *chunkmap.Batch) error {
						if rng.IntN(2) == 0 {
							if err := b.HoldWritable(lo, R); err != nil {
								return err
							}
						}
						p, err := b.WritableBytes(lo+int64(o), n)
						if err != nil {
							return err
						}
						copy(p, data)
						q, err := b.Bytes(lo, R)
						if err != nil {
							return err
						}
						copy(md[o:], data)
						if !bytes.Equal(q, md) {
							t.Errorf("g%d batch read differs", g)
						}
						return nil
					})
					if err != nil {
						t.Errorf("g%d batch: %v", g, err)
						return
					}
				case 1:
					func() {
						defer func() { recover() }()
						_ = m.Batch(func(b *chunkmap.Batch) error {
							p, err := b.WritableBytes(lo+int64(o), n)
							if err != nil {
								t.Errorf("g%d: %v", g, err)
								return err
							}
							copy(p, data)
							copy(md[o:], data)
							panic("boom")
						})
					}()
				case 2:
					p, err := m.PinWritable(lo+int64(o), n)
					if err != nil {
						t.Errorf("g%d pin: %v", g, err)
						return
					}
					copy(p.Bytes(), data)
					copy(md[o:], data)
					go p.Release()
					p.Release()
				case 3:
					if _, err := m.WriteAt(data, lo+int64(o)); err != nil {
						t.Errorf("g%d write: %v", g, err)
						return
					}
					copy(md[o:], data)
				case 4:
					got := make([]byte, R)
					if _, err := m.ReadAt(got, lo); err != nil {
						t.Errorf("g%d read: %v", g, err)
						return
					}
					if !bytes.Equal(got, md) {
						t.Errorf("g%d ReadAt differs", g)
						return
					}
				case 5:
					p, err := m.Pin(lo, R)
					if err != nil {
						t.Errorf("g%d pin: %v", g, err)
						return
					}
					if !bytes.Equal(p.Bytes(), md) {
						t.Errorf("g%d Pin differs", g)
					}
					p.Release()
					p.Release()
				}
			}
		})
	}
	var cwg sync.WaitGroup
	crng := rand.New(rand.NewPCG(seed, 999))
	advGo(t, &cwg, "churn", func() {
		drop := int64(0)
		for {
			select {
			case <-stop:
				return
			default:
			}
			switch crng.IntN(4) {
			case 0:
				if err := m.Truncate(end + crng.Int64N(5*cs)); err != nil {
					t.Errorf("truncate: %v", err)
				}
			case 1:
				if err := m.Truncate(end); err != nil {
					t.Errorf("truncate: %v", err)
				}
			case 2:
				if drop < base {
					drop += crng.Int64N(cs/2) + 1
					drop = min(drop, base)
					if err := m.DropBefore(drop); err != nil {
						t.Errorf("drop: %v", err)
					}
				}
			case 3:
				if err := m.Sync(); err != nil && !errors.Is(err, chunkmap.ErrBusy) {
					t.Errorf("sync: %v", err)
				}
			}
			time.Sleep(time.Duration(crng.IntN(200)) * time.Microsecond)
		}
	})
	var swg sync.WaitGroup
	sstop := make(chan struct{})
	advGo(t, &swg, "stats", func() {
		worst := 0
		for {
			select {
			case <-sstop:
				t.Logf("worst Mapped - (MaxMapped + Pinned): %d", worst)
				return
			default:
			}
			st := m.Stats()
			if d := st.Mapped - (1 + st.Pinned); d > worst {
				worst = d
				t.Logf("Stats %+v", st)
			}
		}
	})
	advWait(t, &wg, 2*time.Minute, "workers")
	close(sstop)
	advWait(t, &swg, time.Minute, "stats")
	close(stop)
	advWait(t, &cwg, time.Minute, "churn")
	if st := m.Stats(); st.Pinned != 0 || st.Mapped > 1 {
		t.Errorf("after: %+v", st)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = advOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
	defer m.Close()
	for g := 0; g < G; g++ {
		got := make([]byte, R)
		if _, err := m.ReadAt(got, base+int64(g)*R); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, models[g]) {
			t.Errorf("g%d differs after reopen", g)
		}
	}
}
