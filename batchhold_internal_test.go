package chunkmap

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestBatchHold_OneWindow: after Hold (HoldWritable) of a range that fits
// in the arena side by side, the fast path's window is the whole range, so
// random accesses within it never reach the slow path; on an arena too
// small for the range, every chunk is still held and every window stays
// within chunks the batch holds, in their slots.
func TestBatchHold_OneWindow(t *testing.T) {
	const cs, chunks = 64 << 10, 24
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for _, tc := range []struct {
		arena int64
		whole bool // whether the range fits in the arena side by side
	}{{0, true}, {32 * cs, true}, {7 * cs, false}} {
		m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 4, ArenaSize: tc.arena, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		skipNoSideBySide(t, m)
		lo, size := int64(cs/3), int64(chunks*cs-100)
		if err := m.Truncate(size); err != nil {
			t.Fatal(err)
		}
		slows := 0
		SetBatchHeldHook(func() { slows++ })
		for _, write := range []bool{false, true} {
			err = m.Batch(func(b *Batch) error {
				var err error
				if write {
					err = b.HoldWritable(lo, size-lo)
				} else {
					err = b.Hold(lo, size-lo)
				}
				if err != nil {
					return err
				}
				wlo, wn, wp := b.lo, b.n, b.p
				if write {
					wlo, wn, wp = b.wlo, b.wn, b.wp
				}
				checkWindow(t, m, b, wlo, wn, wp, write)
				// Chunks whose slots others hold are held in views.
				if pinned := m.Stats().Pinned; pinned < chunks {
					t.Errorf("arena %d, write %v: %d chunks held after Hold of all %d", tc.arena, write, pinned, chunks)
				}
				if !tc.whole {
					// Each chunk is held by a part of its own: in its
					// slot, or in a view of that chunk alone, never in
					// one view of the whole range.
					views := 0
					for _, vs := range []map[[2]int64]*viewHold{b.st.views, b.st.wviews} {
						for key := range vs {
							if key[0] != key[1] {
								t.Errorf("arena %d, write %v: a view of chunks %d-%d", tc.arena, write, key[0], key[1])
							}
							views++
						}
					}
					if got := len(b.st.held) + views; got != chunks {
						t.Errorf("arena %d, write %v: %d chunks held in slots and views, want %d", tc.arena, write, got, chunks)
					}
					return nil
				}
				// The window starts at Start (0), in lo's chunk.
				if wlo != 0 || wn != uint64(size) {
					t.Errorf("arena %d, write %v: window [%d,%d) after Hold of [%d,%d)", tc.arena, write, wlo, wlo+int64(wn), lo, size)
				}
				before := slows
				for range 1000 {
					off := lo + r.Int64N(size-lo-8)
					if write {
						_, err = b.WritableBytes(off, 8)
					} else {
						_, err = b.Bytes(off, 8)
					}
					if err != nil {
						return err
					}
				}
				if slows != before {
					t.Errorf("arena %d, write %v: %d of 1000 accesses within the held range took the slow path", tc.arena, write, slows-before)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("arena %d, write %v: %v", tc.arena, write, err)
			}
		}
		SetBatchHeldHook(nil)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
