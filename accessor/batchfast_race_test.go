package accessor_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestBatchFast_RacingShrinks runs typed Batch reads and writes in the
// machine's byte order, which take the inlined fast path, while another
// goroutine truncates the dataset and grows it again with new bytes, in an
// arena of 4 slots for 8 chunks, so that slots change owner all the time.
// Every word of chunk i holds i<<32 | a generation, so a read that reached
// another chunk's bytes (a stale window into a slot that changed owner)
// shows it: each value read must be zero (growth fills with zeros) or name
// the chunk it was read from. Every error must be ErrOutOfRange (the range
// was cut away), and the stores must land only where they were made: after
// the run, every word is zero, a generation's word, or a store's.
func TestBatchFast_RacingShrinks(t *testing.T) {
	const cs, chunks = chunkmap.MinChunkSize, 8
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 4 * cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	order := binary.ByteOrder(binary.NativeEndian)
	va := accessor.New(m, order)
	fill := func(idx int, gen uint64) {
		t.Helper()
		words := make([]uint64, cs/8)
		for i := range words {
			words[i] = uint64(idx)<<32 | gen
		}
		if err := va.WriteUint64s(int64(idx)*cs, words); err != nil {
			t.Error(err)
		}
	}
	for i := range chunks {
		fill(i, 1)
	}

	seed := testSeed(t, "BATCHFAST_SEED")
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the shrinker
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, 1))
		for gen := uint64(2); !stop.Load(); gen++ {
			keep := 1 + r.IntN(chunks-1)
			if err := m.Truncate(int64(keep) * cs); err != nil {
				t.Error(err)
				return
			}
			for i := keep; i < chunks; i++ {
				fill(i, gen)
			}
		}
	}()
	const storeTag = 0xffff_ffff // a store's low word; chunks' generations stay below it
	deadline := time.Now().Add(time.Second)
	if testing.Short() {
		deadline = time.Now().Add(200 * time.Millisecond)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	batches, reads := 0, 0
	for time.Now().Before(deadline) && !t.Failed() {
		lo := int64(r.IntN(chunks))
		err := va.Batch(func(bt *accessor.Batch) error {
			if err := bt.HoldWritable(lo*cs, 2*cs); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("HoldWritable(%d, %d): %v", lo*cs, 2*cs, err)
			}
			for range 64 {
				off := r.Int64N(chunks*cs/8) * 8
				if r.IntN(8) == 0 {
					err := bt.WriteUint64(off, uint64(off/cs)<<32|storeTag)
					if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
						t.Errorf("WriteUint64(%d): %v", off, err)
					}
					continue
				}
				x, err := bt.ReadUint64(off)
				if err != nil {
					if !errors.Is(err, chunkmap.ErrOutOfRange) {
						t.Errorf("ReadUint64(%d): %v", off, err)
					}
					continue
				}
				reads++
				if x != 0 && x>>32 != uint64(off/cs) {
					t.Errorf("ReadUint64(%d) = %#x: the word of chunk %d, read from chunk %d", off, x, x>>32, off/cs)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Batch: %v", err)
		}
		batches++
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d batches, %d reads", batches, reads)

	words := make([]uint64, m.Size()/8)
	if err := va.ReadUint64s(0, words); err != nil {
		t.Fatal(err)
	}
	for i, x := range words {
		if off := int64(i) * 8; x != 0 && x>>32 != uint64(off/cs) {
			t.Fatalf("after the run, the word at %d is %#x, of chunk %d", off, x, x>>32)
		}
	}
}

// TestBatchFast_ShrinkInside truncates the dataset from inside a batch whose
// typed calls have a window over the chunks cut away: the next typed read
// and write there report ErrOutOfRange, and after the dataset grows again
// over them with new bytes, the read returns those, not the deleted
// chunks'. The window is checked against the dataset's shrinks on every
// call, inlined or not.
func TestBatchFast_ShrinkInside(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	va := accessor.New(m, binary.NativeEndian)
	if err := va.WriteUint64(4*cs-8, 0x1111); err != nil {
		t.Fatal(err)
	}
	if err := va.WriteUint64(3*cs, 0x2222); err != nil {
		t.Fatal(err)
	}
	err = va.Batch(func(bt *accessor.Batch) error {
		if err := bt.HoldWritable(0, 4*cs); err != nil {
			return err
		}
		if x, err := bt.ReadUint64(3 * cs); err != nil || x != 0x2222 {
			t.Errorf("ReadUint64 before the Truncate = %#x, %v; want 0x2222", x, err)
		}
		if err := m.Truncate(2 * cs); err != nil {
			return err
		}
		if x, err := bt.ReadUint64(3 * cs); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadUint64 past the new Size = %#x, %v; want ErrOutOfRange", x, err)
		}
		if err := bt.WriteUint64(3*cs, 0x3333); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("WriteUint64 past the new Size = %v; want ErrOutOfRange", err)
		}
		if _, err := m.WriteAt([]byte{0x44}, 4*cs-1); err != nil {
			return err
		}
		if x, err := bt.ReadUint64(3 * cs); err != nil || x != 0 {
			t.Errorf("ReadUint64 of the chunk made again = %#x, %v; want its zeros", x, err)
		}
		if x, err := bt.ReadUint64(4*cs - 8); err != nil || x != binary.NativeEndian.Uint64([]byte{0, 0, 0, 0, 0, 0, 0, 0x44}) {
			t.Errorf("ReadUint64 of the new last word = %#x, %v; want its new byte", x, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
