package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestLifecycle_FollowerAcrossWriterReopen: a follower keeps reading while the
// writer closes, a new writer opens, cuts, drops and rewrites the dataset
// with other bytes; the follower's reads, pins and batches must see only
// the current bytes.
func TestLifecycle_FollowerAcrossWriterReopen(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	rng := rand.New(rand.NewPCG(seed, 1))
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	o := chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs}
	w := advOpen(t, dir, &o)
	fo := o
	fo.ReadOnly = true
	cur := make([]byte, 6*cs)
	fill := func(gen byte) {
		for i := range cur {
			cur[i] = gen ^ byte(i*7+i>>9)
		}
	}
	fill(1)
	if _, err := w.WriteAt(cur, 0); err != nil {
		t.Fatal(err)
	}
	f := advOpen(t, dir, &fo)
	defer f.Close()
	verify := func(round int) {
		t.Helper()
		start, size := f.Start(), f.Size()
		if size != int64(len(cur)) {
			t.Fatalf("round %d: follower size %d, want %d", round, size, len(cur))
		}
		for k := 0; k < 20; k++ {
			off := start + rng.Int64N(size-start)
			n := int(rng.Int64N(size - off + 1))
			got := make([]byte, n)
			if _, err := f.ReadAt(got, off); err != nil {
				t.Fatalf("round %d ReadAt(%d,%d): %v", round, off, n, err)
			}
			if !bytes.Equal(got, cur[off:off+int64(n)]) {
				t.Fatalf("round %d: ReadAt %d+%d stale", round, off, n)
			}
			p, err := f.Pin(off, n)
			if err != nil {
				t.Fatalf("round %d Pin: %v", round, err)
			}
			if !bytes.Equal(p.Bytes(), cur[off:off+int64(n)]) {
				t.Fatalf("round %d: Pin %d+%d stale", round, off, n)
			}
			p.Release()
			err = f.Batch(func(b *chunkmap.Batch) error {
				q, err := b.Bytes(off, n)
				if err != nil {
					return err
				}
				if !bytes.Equal(q, cur[off:off+int64(n)]) {
					t.Fatalf("round %d: Batch %d+%d stale", round, off, n)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("round %d Batch: %v", round, err)
			}
		}
	}
	verify(0)
	for round := 1; round < 12; round++ {
		if rng.IntN(2) == 0 {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w = advOpen(t, dir, &o)
		}
		fill(byte(round + 1))
		if err := w.Truncate(w.Start()); err != nil {
			t.Fatal(err)
		}
		start := w.Start()
		if _, err := w.WriteAt(cur[start:], start); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(3) == 0 && start < 3*cs {
			if err := w.DropBefore(start + cs); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(2) == 0 {
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		verify(round)
	}
	w.Close()
	verify(99)
}
