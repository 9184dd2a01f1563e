package chunkmap_test

// The Batch fast path against the order in which a shrink publishes
// itself: Truncate stores the new Size (which Manager.Size, ReadAt and
// checkRange read) and DropBefore the new Start between two moves of the
// epoch the fast path checks (beginShrink, endShrink in resize.go), and a
// batch caches nothing in between. A goroutine that has already seen the
// new Size (or Start) must not then get bytes past it (below it) from its
// Batch.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestBatchWin_SizeSeenThenBytes: a controller shrinks Size 8 bytes at a
// time within the last chunk (no chunk is deleted, so each Truncate is
// cheap) and now and then grows it back, with phase odd while it grows. A
// reader in a Batch keeps its window over the last chunk fresh, then reads
// Size and asks for the 8 bytes at Size: with only shrinks in between,
// that must fail.
func TestBatchWin_SizeSeenThenBytes(t *testing.T) {
	seed := testSeed(t, "BATCHWIN_SEED")
	r := rand.New(rand.NewPCG(seed, 1))
	m := bwOpen(t, bwDir(t), bwCfg{maxMapped: 8})
	defer m.Close()
	const full = 4 * bwCS
	if _, err := m.Append(bwWords(0, full, 1)); err != nil {
		t.Fatal(err)
	}
	var phase atomic.Uint64 // odd while Size grows
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var shrinks atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			phase.Add(1)
			if err := m.Truncate(full); err != nil {
				t.Error(err)
				return
			}
			phase.Add(1)
			for k := int64(1); k <= 64; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := m.Truncate(full - 8*k); err != nil {
					t.Error(err)
					return
				}
				shrinks.Add(1)
			}
		}
	}()
	deadline := time.Now().Add(stormFor(2 * time.Second))
	var tries, bad int
	var first string
	for time.Now().Before(deadline) && bad == 0 {
		err := m.Batch(func(b *chunkmap.Batch) error {
			for range 2000 {
				s := m.Size()
				if _, err := b.Bytes(s-8-int64(r.IntN(64))*8, 8); err != nil { // the window: the last chunk
					continue
				}
				p1 := phase.Load()
				s = m.Size()
				_, err := b.Bytes(s, 8)
				p2 := phase.Load()
				tries++
				if err == nil && p1 == p2 && p1%2 == 0 {
					bad++
					if first == "" {
						first = fmt.Sprintf("Size() returned %d, then Bytes(%d, 8) succeeded, with only shrinks between", s, s)
					}
				} else if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d tries, %d shrinks, %d violations", tries, shrinks.Load(), bad)
	if bad > 0 {
		t.Errorf("seed %d: %s (%d of %d tries)", seed, first, bad, tries)
	}
}

// TestBatchWin_StartSeenThenBytes: the same for DropBefore and Start: a
// reader that has seen the new Start must not get bytes below it.
func TestBatchWin_StartSeenThenBytes(t *testing.T) {
	m := bwOpen(t, bwDir(t), bwCfg{maxMapped: 64})
	defer m.Close()
	const chunks = 200
	if _, err := m.Append(bwWords(0, chunks*bwCS, 1)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := int64(1); c < chunks-2; c++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.DropBefore(c * bwCS); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	deadline := time.Now().Add(stormFor(1500 * time.Millisecond))
	var tries, bad int
	var first string
	for time.Now().Before(deadline) && bad == 0 && m.Start() < (chunks-3)*bwCS {
		err := m.Batch(func(b *chunkmap.Batch) error {
			for range 2000 {
				st := m.Start()
				// The window over the chunk at Start and the next.
				if _, err := b.Bytes(st+bwCS-8, 16); err != nil {
					continue
				}
				st2 := m.Start()
				_, err := b.Bytes(st2-8, 8)
				tries++
				if err == nil && st2 > st {
					bad++
					if first == "" {
						first = fmt.Sprintf("Start() returned %d, then Bytes(%d, 8) succeeded", st2, st2-8)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d tries, %d violations", tries, bad)
	if bad > 0 {
		t.Errorf("%s (%d of %d tries)", first, bad, tries)
	}
}
