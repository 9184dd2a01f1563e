package chunkmap_test

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestFollowHot_ReopenTruncateDrop races followers' ReadAt (the lock-free
// path through the writer's page) against a writer that cuts into its
// last chunks and writes them anew, drops its first chunk, and closes and
// reopens: every word read must be one the writer had at some instant
// since the read began, of its offset.
func TestFollowHot_ReopenTruncateDrop(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	seed := testSeed(t, "CHUNKMAP_SEED")
	dir := t.TempDir()
	opts := &chunkmap.Options{ChunkSize: cs, MaxMapped: 8}
	w, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	const span = 4 * cs
	if _, err := w.WriteAt(shrinkWords(1, 0, span), 0); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	// floor[i] is the generation word i had when the writer last finished
	// writing it: a read that begins after holds it or a later one.
	floor := make([]atomic.Uint32, span/8)
	for i := range floor {
		floor[i].Store(1)
	}
	var wg sync.WaitGroup
	var failed atomic.Bool
	for i := range 3 {
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			b := make([]byte, 64)
			for !done.Load() && !failed.Load() {
				n := 8 * (1 + rng.IntN(8))
				start := r.Start()
				off := start + 8*rng.Int64N((span-start)/8)
				if off+int64(n) > span {
					continue
				}
				var lo [8]uint32
				for j := range n / 8 {
					lo[j] = floor[off/8+int64(j)].Load()
				}
				k, err := r.ReadAt(b[:n], off)
				if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("ReadAt(%d, %d): %v", n, off, err)
					failed.Store(true)
					return
				}
				for j := 0; j+8 <= k; j += 8 {
					v := binary.LittleEndian.Uint64(b[j:])
					gen, o := uint32(v>>32), int64(uint32(v))*8
					if o != off+int64(j) || gen < lo[j/8] {
						t.Errorf("ReadAt(%d, %d): word %d is %#x (gen %d, offset %d), want offset %d of gen >= %d",
							n, off, j/8, v, gen, o, off+int64(j), lo[j/8])
						failed.Store(true)
						return
					}
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	start := int64(0)
	gens := uint32(400)
	if raceEnabled {
		gens = 250 // each generation is slower there; 250 still reopen the writer 6 times
	}
	for gen := uint32(2); gen < gens && !failed.Load(); gen++ {
		cut := max(start, span-cs-8*rng.Int64N(2*cs/8))
		if err := w.Truncate(cut); err != nil {
			t.Fatal(err)
		}
		// Words below the cut stand; those past it are gone.
		if _, err := w.WriteAt(shrinkWords(gen, cut, int(span-cut)), cut); err != nil {
			t.Fatal(err)
		}
		for i := cut / 8; i < span/8; i++ {
			floor[i].Store(gen)
		}
		if gen%50 == 0 && start < cs {
			start = cs
			if err := w.DropBefore(start); err != nil {
				t.Fatal(err)
			}
		}
		if gen%40 == 0 {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w, err = chunkmap.Open(dir, opts); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	w.Close()
}
