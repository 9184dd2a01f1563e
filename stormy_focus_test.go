package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestStormy_WritePastSizeNeverOutOfRangeWhileTruncating: writes at offsets
// at or above Start may always extend the dataset ("WriteAt ... creating
// chunk files as needed and extending Size"; ErrOutOfRange is for offsets
// "below Start; past Size for typed reads, pins, batches, gathers, atomics,
// Advise and DropBefore", not for writes). Here goroutines write into chunk
// 3 (one of them across the boundary of chunks 2 and 3) with WriteAt, typed
// and bulk writes while another truncates the dataset to 3 chunks (deleting
// chunk 3) and back to 4, and another keeps chunks 2 and 3 unmapped by
// reading chunks 0 and 1 with MaxMapped 1. No write may fail, and, once the
// writers stop and the dataset is extended again, each writer's last value
// reads back, its part in chunk 3 possibly as zeros (a Truncate after it).
func TestStormy_WritePastSizeNeverOutOfRangeWhileTruncating(t *testing.T) {
	seed := stormySeed(t)
	e := stormyNewEnv(t)
	rng := stormyRNG(seed, 0)
	opts := chunkmap.Options{ChunkSize: stormyC, MaxMapped: 1, NoAdmission: rng.IntN(2) == 0,
		ArenaSize: []int64{1, 2, 4}[rng.IntN(3)] * stormyC}
	t.Logf("MaxMapped 1, ArenaSize %d chunks, NoAdmission %v", opts.ArenaSize/stormyC, opts.NoAdmission)
	m, err := chunkmap.Open(e.dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	va := accessor.New(m, nil)
	if err := m.Truncate(4 * stormyC); err != nil {
		t.Fatal(err)
	}
	budget := 4 * stormyBudget()
	deadline := time.Now().Add(budget)
	var stop atomic.Bool
	var writes, failures atomic.Int64
	sg := &stormyGroup{t: t}
	sg.Go("truncater", func() {
		for i := 0; !stop.Load(); i++ {
			size := 4 * stormyC
			if i%2 == 0 {
				size = 3 * stormyC
			}
			e.check(fmt.Sprintf("Truncate(%d)", size), "truncate ", m.Truncate(size))
		}
	})
	sg.Go("evictor", func() {
		buf := make([]byte, 16)
		for !stop.Load() {
			for c := range int64(2) {
				_, err := m.ReadAt(buf, c*stormyC+100)
				e.check("ReadAt", "read ", err)
			}
		}
	})
	last := make([][]byte, 3)
	failed := make([]bool, 3)
	for g := range 3 {
		sg.Go(fmt.Sprintf("writer %d", g), func() {
			off := 3*stormyC + 4096*int64(g)
			if g == 0 {
				off = 3*stormyC - 32 // across chunks 2 and 3
			}
			for i := 0; !stop.Load(); i++ {
				var err error
				var n int
				var what string
				data := make([]byte, 64)
				for j := range data {
					data[j] = byte(i + j + 1)
				}
				switch (i + g) % 3 {
				case 0:
					what = "WriteAt"
					n, err = m.WriteAt(data, off)
				case 1:
					what = "accessor WriteUint64"
					data = data[:8]
					err = va.WriteUint64(off, binary.LittleEndian.Uint64(data))
				default:
					what = "accessor WriteUint64s"
					xs := make([]uint64, 8)
					for j := range xs {
						xs[j] = binary.LittleEndian.Uint64(data[8*j:])
					}
					err = va.WriteUint64s(off, xs)
				}
				writes.Add(1)
				if err != nil {
					failures.Add(1)
					failed[g] = true
					e.failf("writer %d: %s of %d bytes at %d (chunks %d to %d) while Truncate deletes and recreates chunk 3: %v (n = %d)",
						g, what, len(data), off, off/stormyC, (off+int64(len(data))-1)/stormyC, err, n)
					return
				}
				last[g] = data
			}
		})
	}
	for time.Now().Before(deadline) && !e.failing() {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	sg.Wait("writers and truncater")
	t.Logf("%d writes, %d failed", writes.Load(), failures.Load())
	if err := m.Truncate(4 * stormyC); err != nil {
		t.Fatal(err)
	}
	for g, data := range last {
		if data == nil || failed[g] {
			continue // a failed write may have left part of itself (already reported)
		}
		off := 3*stormyC + 4096*int64(g)
		if g == 0 {
			off = 3*stormyC - 32
		}
		got := make([]byte, len(data))
		if _, err := m.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		cut := min(int64(len(data)), max(0, 3*stormyC-off)) // bytes in chunk 2, which no Truncate cuts
		if !bytes.Equal(got[:cut], data[:cut]) ||
			(!bytes.Equal(got[cut:], data[cut:]) && !bytes.Equal(got[cut:], make([]byte, len(data)-int(cut)))) {
			t.Errorf("writer %d: last write at %d reads back as %x, want %x (zeros allowed from offset %d on)", g, off, got, data, 3*stormyC)
		}
	}
}

// TestStormy_WriteRefusedByCloseWritesNothing: ErrClosed means "Nothing was
// done" (its doc), and a typed write that fails with ErrClosed is not partly
// written (ViewAccessor.WriteUint64). Goroutines write across chunk
// boundaries, each to a region of its own, racing Close; a write that
// returns ErrClosed must report n == 0, and when the dataset is opened
// again each region holds exactly its goroutine's last successful write.
func TestStormy_WriteRefusedByCloseWritesNothing(t *testing.T) {
	seed := stormySeed(t)
	rng := stormyRNG(seed, 0)
	rounds := 40
	if testing.Short() || raceEnabled {
		rounds = 15
	}
	e := stormyNewEnv(t)
	var refusedPartial atomic.Int64
	for round := range rounds {
		if e.failing() {
			break
		}
		dir := fmt.Sprintf("%s-%d", e.dir, round)
		opts := chunkmap.Options{ChunkSize: stormyC, MaxMapped: 1 + rng.IntN(2), NoAdmission: rng.IntN(2) == 0}
		m, err := chunkmap.Open(dir, &opts)
		if err != nil {
			t.Fatal(err)
		}
		va := accessor.New(m, nil)
		if err := m.Truncate(4 * stormyC); err != nil {
			t.Fatal(err)
		}
		const writers = 3
		regions := [writers]int64{}
		sizes := [writers]int{}
		last := [writers]byte{}
		var calls atomic.Int64
		sg := &stormyGroup{t: t}
		for g := range writers {
			typed := (round+g)%2 == 1
			regions[g] = int64(g+1)*stormyC - 2048
			sizes[g] = 4096
			if typed {
				regions[g] = int64(g+1)*stormyC - 4
				sizes[g] = 8
			}
			sg.Go(fmt.Sprintf("writer %d", g), func() {
				for seq := 1; seq < 256; seq++ {
					buf := bytes.Repeat([]byte{byte(seq)}, sizes[g])
					var n int
					var err error
					what := "WriteAt"
					if typed {
						what = "accessor WriteUint64"
						err = va.WriteUint64(regions[g], binary.LittleEndian.Uint64(buf))
					} else {
						n, err = m.WriteAt(buf, regions[g])
					}
					calls.Add(1)
					if err == nil {
						last[g] = byte(seq)
						continue
					}
					e.check(what, "write ", err, chunkmap.ErrClosed)
					if n != 0 {
						refusedPartial.Add(1)
						e.failf("round %d writer %d: %s of %d bytes at %d across the boundary of chunks %d and %d: n = %d with %v; ErrClosed means nothing was done",
							round, g, what, sizes[g], regions[g], regions[g]/stormyC, regions[g]/stormyC+1, n, err)
					}
					return
				}
			})
		}
		threshold := int64(rng.IntN(60))
		for calls.Load() < threshold {
			time.Sleep(20 * time.Microsecond)
		}
		var cerr error
		stormyWithin(t, "Close", func() { cerr = m.Close() })
		e.check("Close", "close ", cerr)
		sg.Wait(fmt.Sprintf("round %d", round))
		m2, err := chunkmap.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for g := range writers {
			got := make([]byte, sizes[g])
			if _, err := m2.ReadAt(got, regions[g]); err != nil {
				t.Fatal(err)
			}
			want := bytes.Repeat([]byte{last[g]}, sizes[g])
			if !bytes.Equal(got, want) {
				lo, hi := got[0], got[len(got)-1]
				e.failf("round %d writer %d: region of %d bytes at %d across a chunk boundary holds %#02x..%#02x after reopen, want its last successful write %#02x throughout (the write refused with ErrClosed was partly made)",
					round, g, sizes[g], regions[g], lo, hi, last[g])
			}
		}
		m2.Close()
		if errors.Is(cerr, chunkmap.ErrBusy) {
			t.Fatalf("Close with no Batch open: %v", cerr)
		}
	}
}

// TestStormy_EscapedBatchErrorNamesOperationAndDirectory: the methods of a
// Batch used after its function returned return ErrClosed (ErrClosed's
// doc), and every error's message "names the operation, then the length
// and offset where the call has them, then the dataset's directory or the
// file involved, once" (the sentinels' doc). Goroutines open batches, keep
// the Batch (and a copy) past the function, and use them while the others'
// batches are open.
func TestStormy_EscapedBatchErrorNamesOperationAndDirectory(t *testing.T) {
	seed := stormySeed(t)
	e := stormyNewEnv(t)
	m, err := chunkmap.Open(e.dir, &chunkmap.Options{ChunkSize: stormyC, MaxMapped: 2, ArenaSize: 2 * stormyC})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(6 * stormyC); err != nil {
		t.Fatal(err)
	}
	sg := &stormyGroup{t: t}
	for g := range 4 {
		sg.Go(fmt.Sprintf("goroutine %d", g), func() {
			rng := stormyRNG(seed, uint64(g))
			for i := 0; i < 200 && !e.failing(); i++ {
				off := rng.Int64N(6*stormyC - 64)
				var kept *chunkmap.Batch
				var copied chunkmap.Batch
				err := m.Batch(func(b *chunkmap.Batch) error {
					if _, err := b.Bytes(off, 64); err != nil {
						return err
					}
					kept, copied = b, *b
					return nil
				})
				e.check("Batch", "batch", err)
				for j, use := range []*chunkmap.Batch{kept, &copied} {
					var err error
					var prefix string
					if (i+j)%2 == 0 {
						prefix = "batch read "
						_, err = use.Bytes(off, 8)
					} else {
						prefix = "batch write "
						_, err = use.WritableBytes(off, 8)
					}
					what := fmt.Sprintf("goroutine %d: Batch (copy %v) used after its function returned", g, j == 1)
					if !errors.Is(err, chunkmap.ErrClosed) {
						e.failf("%s: %v, want ErrClosed", what, err)
						return
					}
					e.check(what, prefix, err, chunkmap.ErrClosed)
					if !bytes.Contains([]byte(err.Error()), []byte(e.real)) {
						e.failf("%s: the message does not name the dataset's directory %s: %q", what, e.real, err)
						return
					}
				}
			}
		})
	}
	sg.Wait("batches")
}
