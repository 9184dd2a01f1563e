package accessor_test

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

func TestViewAccessor_Atomics(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1})
	// The byte order of the accessor does not matter to atomics.
	va := accessor.New(m, binary.BigEndian)
	native := accessor.New(m, binary.NativeEndian)
	fill(t, m, 0, 2*cs+64)
	size := m.Size()
	for _, off := range []int64{0, cs - 8, cs, 2 * cs, 2*cs + 56} {
		if err := va.StoreUint64(off, math.MaxUint64-1); err != nil {
			t.Fatalf("StoreUint64(%d): %v", off, err)
		}
		if got, err := va.LoadUint64(off); err != nil || got != math.MaxUint64-1 {
			t.Errorf("LoadUint64(%d) = %#x, %v, want %#x", off, got, err, uint64(math.MaxUint64-1))
		}
		if got, err := native.ReadUint64(off); err != nil || got != math.MaxUint64-1 {
			t.Errorf("ReadUint64(%d) in native order = %#x, %v; atomics must use native order", off, got, err)
		}
		if got, err := va.AddUint64(off, 3); err != nil || got != 1 {
			t.Errorf("AddUint64(%d, 3) = %d, %v, want 1 (wrapped)", off, got, err)
		}
		if got, err := va.AddUint64(off, ^uint64(0)); err != nil || got != 0 {
			t.Errorf("AddUint64(%d, -1) = %d, %v, want 0", off, got, err)
		}
		if ok, err := va.CompareAndSwapUint64(off, 5, 6); err != nil || ok {
			t.Errorf("CompareAndSwapUint64(%d, 5, 6) on 0 = %v, %v, want false", off, ok, err)
		}
		if ok, err := va.CompareAndSwapUint64(off, 0, 42); err != nil || !ok {
			t.Errorf("CompareAndSwapUint64(%d, 0, 42) on 0 = %v, %v, want true", off, ok, err)
		}
		if got, _ := va.LoadUint64(off); got != 42 {
			t.Errorf("LoadUint64(%d) after CAS = %d, want 42", off, got)
		}

		off32 := off + 4
		if err := va.StoreUint32(off32, 7); err != nil {
			t.Fatalf("StoreUint32(%d): %v", off32, err)
		}
		if got, err := native.ReadUint32(off32); err != nil || got != 7 {
			t.Errorf("ReadUint32(%d) in native order = %d, %v, want 7", off32, got, err)
		}
		if got, err := va.AddUint32(off32, math.MaxUint32); err != nil || got != 6 {
			t.Errorf("AddUint32(%d, -1) = %d, %v, want 6", off32, got, err)
		}
		if ok, err := va.CompareAndSwapUint32(off32, 6, 9); err != nil || !ok {
			t.Errorf("CompareAndSwapUint32(%d, 6, 9) = %v, %v, want true", off32, ok, err)
		}
		if ok, err := va.CompareAndSwapUint32(off32, 6, 10); err != nil || ok {
			t.Errorf("CompareAndSwapUint32(%d, 6, 10) on 9 = %v, %v, want false", off32, ok, err)
		}
		if got, err := va.LoadUint32(off32); err != nil || got != 9 {
			t.Errorf("LoadUint32(%d) = %d, %v, want 9", off32, got, err)
		}
	}
	if got := m.Size(); got != size {
		t.Errorf("Size = %d after atomics, want %d: atomics must never extend it", got, size)
	}
	// Stores through atomics reach the file like any write.
	if err := va.StoreUint64(cs, 0x0102030405060708); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openTestManager(t, m.Dir(), &chunkmap.Options{ReadOnly: true})
	if got, err := accessor.New(m, nil).LoadUint64(cs); err != nil || got != 0x0102030405060708 {
		t.Errorf("LoadUint64 after reopen = %#x, %v, want 0x0102030405060708", got, err)
	}
}

// TestViewAccessor_AddUint64Concurrent has goroutines add to shared
// counters in three chunks while MaxMapped is 1 and another goroutine keeps
// evicting them: every increment must count. Run it with -race.
func TestViewAccessor_AddUint64Concurrent(t *testing.T) {
	const (
		goroutines = 8
		adds       = 1000
	)
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1})
	va := accessor.New(m, nil)
	fill(t, m, 0, 3*cs)
	counters := []int64{8, cs + 16, 2*cs + 24}
	for _, off := range counters {
		if err := va.StoreUint64(off, 0); err != nil {
			t.Fatal(err)
		}
		if err := va.StoreUint32(off+8, 0); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	var evictor sync.WaitGroup
	evictor.Go(func() {
		b := make([]byte, 1)
		for i := int64(0); ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := m.ReadAt(b, (i%3)*cs+cs/2); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range adds {
				// Move to the next counter every 50 adds; with MaxMapped 1
				// every move, and every evictor read, evicts a chunk.
				off := counters[(g+i/50)%len(counters)]
				if _, err := va.AddUint64(off, 1); err != nil {
					t.Error(err)
					return
				}
				if _, err := va.AddUint32(off+8, 2); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	evictor.Wait()
	var sum64 uint64
	var sum32 uint32
	for _, off := range counters {
		x, err := va.LoadUint64(off)
		if err != nil {
			t.Fatal(err)
		}
		y, err := va.LoadUint32(off + 8)
		if err != nil {
			t.Fatal(err)
		}
		sum64 += x
		sum32 += y
	}
	if want := uint64(goroutines * adds); sum64 != want {
		t.Errorf("sum of the uint64 counters = %d, want %d", sum64, want)
	}
	if want := uint32(2 * goroutines * adds); sum32 != want {
		t.Errorf("sum of the uint32 counters = %d, want %d", sum32, want)
	}
	t.Logf("%+v", m.Stats()) // evictions while adding
}

// TestViewAccessor_CompareAndSwapLoop increments a counter with
// load-CAS loops from many goroutines and keeps a running maximum.
func TestViewAccessor_CompareAndSwapLoop(t *testing.T) {
	const (
		goroutines = 8
		incs       = 1000
	)
	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	fill(t, m, 0, cs+64)
	const counter, maxWord = cs - 8, cs + 8
	for _, off := range []int64{counter, maxWord} {
		if err := va.StoreUint64(off, 0); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range incs {
				for {
					old, err := va.LoadUint64(counter)
					if err != nil {
						t.Error(err)
						return
					}
					ok, err := va.CompareAndSwapUint64(counter, old, old+1)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						break
					}
					runtime.Gosched()
				}
				// Raise maxWord to x unless it is already higher.
				x := uint64(g*incs + i)
				for {
					cur, err := va.LoadUint64(maxWord)
					if err != nil {
						t.Error(err)
						return
					}
					if cur >= x {
						break
					}
					if ok, err := va.CompareAndSwapUint64(maxWord, cur, x); err != nil {
						t.Error(err)
						return
					} else if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if got, _ := va.LoadUint64(counter); got != goroutines*incs {
		t.Errorf("counter = %d, want %d", got, goroutines*incs)
	}
	if got, _ := va.LoadUint64(maxWord); got != goroutines*incs-1 {
		t.Errorf("max = %d, want %d", got, goroutines*incs-1)
	}
}

// TestViewAccessor_AtomicFault truncates a chunk file from outside, as
// another process might, and checks that atomics return ErrFault instead of
// crashing.
func TestViewAccessor_AtomicFault(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows cannot truncate a mapped file")
	}
	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	fill(t, m, 0, 2*cs)
	if _, err := va.AddUint64(cs+8, 1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(m.Dir(), chunk.Name(1))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// Put the size back before the Manager syncs and closes.
	t.Cleanup(func() {
		if err := os.Truncate(path, cs); err != nil {
			t.Error(err)
		}
	})
	for _, tc := range []struct {
		name string
		fn   func() error
	}{
		{"AddUint64", func() error { _, err := va.AddUint64(cs+8, 1); return err }},
		{"LoadUint64", func() error { _, err := va.LoadUint64(cs + 8); return err }},
		{"StoreUint64", func() error { return va.StoreUint64(cs+8, 1) }},
		{"CompareAndSwapUint64", func() error { _, err := va.CompareAndSwapUint64(cs+8, 1, 2); return err }},
		{"AddUint32", func() error { _, err := va.AddUint32(cs+12, 1); return err }},
		{"LoadUint32", func() error { _, err := va.LoadUint32(cs + 12); return err }},
		{"StoreUint32", func() error { return va.StoreUint32(cs+12, 1) }},
		{"CompareAndSwapUint32", func() error { _, err := va.CompareAndSwapUint32(cs+12, 1, 2); return err }},
		{"ReadUint64", func() error { _, err := va.ReadUint64(cs + 8); return err }},
		{"ReadUint64/straddle", func() error { _, err := va.ReadUint64(cs - 4); return err }},
	} {
		err := tc.fn()
		if !errors.Is(err, chunkmap.ErrFault) {
			t.Errorf("%s on a truncated chunk = %v, want an error matching ErrFault", tc.name, err)
		}
	}
	// Chunk 0 is untouched.
	if _, err := va.AddUint64(8, 1); err != nil {
		t.Errorf("AddUint64 on an intact chunk: %v", err)
	}
}
