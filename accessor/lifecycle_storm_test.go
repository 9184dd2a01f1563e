package accessor_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestLifecycle_TypedOwnedStorm: goroutines each own a region across chunks
// and write it through typed batches, views, atomics and bulk calls,
// checking reads and scans against their model, while another goroutine
// truncates past the regions, drops before them and syncs; the arena has
// a few slots, so regions share them.
func TestLifecycle_TypedOwnedStorm(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	for _, ord := range advOrders[1:3] {
		dir := t.TempDir()
		m := advOpen(t, dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: 1, ArenaSize: 3 * advCS})
		va := accessor.New(m, ord.order)
		const G = 4
		const R = 3*advCS/2 + 8
		base := int64(3 * advCS)
		end := base + G*R
		if err := m.Truncate(end); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg, cwg sync.WaitGroup
		for g := 0; g < G; g++ {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			md := make([]byte, R)
			lo := base + int64(g)*R
			check := func(what string, got []byte, o int) bool {
				if !bytes.Equal(got, md[o:o+len(got)]) {
					t.Errorf("%s g%d: %s at %d differs", ord.name, g, what, o)
					return false
				}
				return true
			}
			advGoA(t, &wg, func() {
				for i := 0; i < 400; i++ {
					o := rng.IntN(R - 8)
					x := rng.Uint64()
					switch rng.IntN(7) {
					case 0:
						func() {
							defer func() { _ = recover() }()
							err := va.Batch(func(b *accessor.Batch) error {
								if rng.IntN(2) == 0 {
									if err := b.HoldWritable(lo, R); err != nil {
										return err
									}
								}
								bc := *b
								for k := 0; k < 8; k++ {
									o := rng.IntN(R - 8)
									x := rng.Uint64()
									if err := bc.WriteUint64(lo+int64(o), x); err != nil {
										return err
									}
									ord.enc.PutUint64(md[o:], x)
									y, err := b.ReadUint64(lo + int64(o))
									if err != nil {
										return err
									}
									if y != x {
										t.Errorf("g%d batch read back %#x want %#x", g, y, x)
									}
								}
								if rng.IntN(5) == 0 {
									panic("boom")
								}
								return nil
							})
							if err != nil {
								t.Errorf("g%d batch: %v", g, err)
							}
						}()
					case 1:
						v, err := va.Slice(lo+int64(o), 8)
						if err != nil {
							t.Errorf("slice: %v", err)
							return
						}
						ord.enc.PutUint64(v.Bytes(), x)
						ord.enc.PutUint64(md[o:], x)
						go v.Release()
						v.Release()
					case 2:
						a := (lo + int64(o)) &^ 7
						if a < lo {
							a += 8
						}
						if _, err := m.AddUint64(a, x); err != nil {
							t.Errorf("add: %v", err)
							return
						}
						ao := int(a - lo)
						binary.NativeEndian.PutUint64(md[ao:], binary.NativeEndian.Uint64(md[ao:])+x)
					case 3:
						s := va.Scan()
						off := lo
						for bo, blk := range s.Blocks(lo, R) {
							if bo != off || !check("block", blk, int(bo-lo)) {
								break
							}
							off += int64(len(blk))
						}
						if s.Err() != nil {
							t.Errorf("blocks: %v", s.Err())
						}
					case 4:
						s := va.Scan()
						for so, y := range s.Uint32s(lo, R/4) {
							if y != ord.enc.Uint32(md[so-lo:]) {
								t.Errorf("%s g%d: scan uint32 at %d", ord.name, g, so-lo)
								break
							}
							if rng.IntN(3000) == 0 {
								break
							}
						}
						if s.Err() != nil {
							t.Errorf("scan: %v", s.Err())
						}
					case 5:
						n := rng.IntN((R-o)/8) + 1
						src := make([]uint64, n)
						for j := range src {
							src[j] = rng.Uint64()
							ord.enc.PutUint64(md[o+8*j:], src[j])
						}
						if err := va.WriteUint64s(lo+int64(o), src); err != nil {
							t.Errorf("write64s: %v", err)
							return
						}
					case 6:
						got := make([]byte, R)
						if _, err := va.ReadAt(got, lo); err != nil {
							t.Errorf("read: %v", err)
							return
						}
						check("ReadAt", got, 0)
					}
				}
			})
		}
		crng := rand.New(rand.NewPCG(seed, 77))
		advGoA(t, &cwg, func() {
			drop := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch crng.IntN(4) {
				case 0:
					err = m.Truncate(end + crng.Int64N(4*advCS))
				case 1:
					err = m.Truncate(end)
				case 2:
					if drop < base {
						drop = min(base, drop+crng.Int64N(advCS/2)+1)
						err = m.DropBefore(drop)
					}
				case 3:
					err = m.Sync()
				}
				if err != nil && !errors.Is(err, chunkmap.ErrBusy) {
					t.Errorf("churn: %v", err)
				}
				time.Sleep(time.Duration(crng.IntN(300)) * time.Microsecond)
			}
		})
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Minute):
			t.Fatal("hang")
		}
		close(stop)
		cwg.Wait()
		advPinned(t, m, "after")
		if st := m.Stats(); st.Mapped > 1 {
			t.Errorf("mapped: %+v", st)
		}
	}
}

func advGoA(t *testing.T, wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
}
