package accessor_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestLifecycle_BlockBodyCutsAndRegrows: a block scan's body cuts the dataset
// inside the block it holds (and below it) and writes it again, with new
// bytes; the held block stays readable, and a fresh scan sees the new bytes.
func TestLifecycle_BlockBodyCutsAndRegrows(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	for _, slots := range []int64{1, 2, 0} {
		rng := rand.New(rand.NewPCG(seed, uint64(slots)))
		m := advOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: advCS, MaxMapped: 1, ArenaSize: slots * advCS})
		va := accessor.New(m, nil)
		cur := make([]byte, 6*advCS)
		for i := range cur {
			cur[i] = byte(rng.Uint32())
		}
		if _, err := m.WriteAt(cur, 0); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 30; round++ {
			s := va.Scan()
			cutAt := rng.IntN(6)
			for off, blk := range s.Blocks(0, int64(len(cur))) {
				if !bytes.Equal(blk, cur[off:off+int64(len(blk))]) {
					t.Fatalf("slots %d round %d: block at %d differs before the cut", slots, round, off)
				}
				if int(off/advCS) == cutAt {
					cut := rng.Int64N(off + int64(len(blk)))
					if err := m.Truncate(cut); err != nil {
						t.Fatal(err)
					}
					_ = blk[len(blk)-1] // still mapped
					for i := cut; i < int64(len(cur)); i++ {
						cur[i] = byte(rng.Uint32())
					}
					if _, err := m.WriteAt(cur[cut:], cut); err != nil {
						t.Fatal(err)
					}
					_ = blk[0]
				}
			}
			t.Logf("round %d: %v", round, s.Err())
			s = va.Scan()
			for off, blk := range s.Blocks(0, int64(len(cur))) {
				if !bytes.Equal(blk, cur[off:off+int64(len(blk))]) {
					t.Fatalf("slots %d round %d: block at %d differs after the cut", slots, round, off)
				}
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			s = va.Scan()
			for off, x := range s.Uint16s(0, len(cur)/2) {
				if x != binary.LittleEndian.Uint16(cur[off:]) {
					t.Fatalf("slots %d round %d: byte at %d differs", slots, round, off)
				}
			}
			advPinned(t, m, "after")
		}
	}
}
