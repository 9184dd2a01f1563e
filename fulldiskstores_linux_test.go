package chunkmap_test

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// fdsByte is the byte every writer of this test stores at offset x.
func fdsByte(x int64) byte { return byte(x*31 + x>>9 + 7) }

// TestFullDiskStoresNeverFault fills a small tmpfs with concurrent bulk
// and small Appends, bulk WriteAts past Size, and stores inside Size
// (small WriteAts through the mappings, Batch WritableBytes, writable
// pins), all writing fdsByte(x) at x. Once the disk is full, every failure
// must be ErrNoSpace (never ErrFault, a store that hit an unallocated
// block), and every byte inside Size must be fdsByte or a zero.
func TestFullDiskStoresNeverFault(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	mnt := fzMount(t, "size=3m")
	m, err := chunkmap.Open(mnt, &chunkmap.Options{ChunkSize: cs, MaxMapped: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fill := func(off int64, n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = fdsByte(off + int64(i))
		}
		return p
	}
	var faults atomic.Int64
	var firstFault atomic.Pointer[error]
	note := func(err error) {
		if err == nil || errors.Is(err, chunkmap.ErrNoSpace) || errors.Is(err, chunkmap.ErrOutOfRange) {
			return
		}
		if firstFault.CompareAndSwap(nil, &err) {
			t.Logf("unexpected error: %v", err)
		}
		faults.Add(1)
	}
	stop := time.Now().Add(stormFor(1500 * time.Millisecond))
	var wg sync.WaitGroup
	var full atomic.Int64
	// Appenders: the content must match the offset they get, which they
	// learn only after; they write a guess and the guess must match, so
	// they append p built for the current Size under a lock of their own.
	var appendMu sync.Mutex
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(stop) {
				n := 1 + r.IntN(200)
				if r.IntN(2) == 0 {
					n = 64<<10 + r.IntN(3*cs)
				}
				appendMu.Lock()
				off := m.Size()
				_, err := m.WriteAt(fill(off, n), off) // past Size: a claim, like Append
				appendMu.Unlock()
				if errors.Is(err, chunkmap.ErrNoSpace) {
					full.Add(1)
				}
				note(err)
			}
		})
	}
	// Concurrent claims: WriteAts past Size at ranges handed out by a
	// counter (so out of order, with gaps, overlapping reserved), and
	// Appends of zeros.
	var next atomic.Int64
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for time.Now().Before(stop) {
				n := 1 + r.IntN(300)
				if r.IntN(2) == 0 {
					n = 64<<10 + r.IntN(2*cs)
				}
				var err error
				if r.IntN(3) == 0 {
					_, err = m.Append(make([]byte, n))
				} else {
					off := max(next.Add(int64(n))-int64(n), m.Size()-int64(r.IntN(1000)))
					_, err = m.WriteAt(fill(off, n), max(off, 0))
					if off < 0 {
						err = nil
					}
				}
				if errors.Is(err, chunkmap.ErrNoSpace) {
					full.Add(1)
				}
				note(err)
			}
		})
	}
	// Writers inside Size.
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for time.Now().Before(stop) {
				size := m.Size()
				if size < 16 {
					continue
				}
				off := r.Int64N(size - 8)
				n := int(min(int64(1+r.IntN(4000)), size-off))
				switch r.IntN(3) {
				case 0:
					_, err := m.WriteAt(fill(off, n), off)
					note(err)
				case 1:
					err := m.Batch(func(b *chunkmap.Batch) error {
						p, err := b.WritableBytes(off, n)
						if err != nil {
							return err
						}
						copy(p, fill(off, n))
						return nil
					})
					note(err)
				case 2:
					pin, err := m.PinWritable(off, n)
					note(err)
					if err == nil {
						copy(pin.Bytes(), fill(off, n))
						pin.Release()
					}
				}
			}
		})
	}
	wg.Wait()
	if faults.Load() > 0 {
		t.Fatalf("%d unexpected errors on a full disk; first: %v", faults.Load(), *firstFault.Load())
	}
	if full.Load() == 0 {
		t.Logf("the disk never filled")
	}
	size := m.Size()
	got := make([]byte, size)
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for x := range got {
		if got[x] != 0 && got[x] != fdsByte(int64(x)) {
			if bad == 0 {
				t.Errorf("byte %d is %#x, want %#x or 0", x, got[x], fdsByte(int64(x)))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d bytes wrong", bad)
	}
	t.Logf("size %d, %d ENOSPC appends", size, full.Load())
}
