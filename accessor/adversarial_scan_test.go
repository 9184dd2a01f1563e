package accessor_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// advScanSetup writes n uint64 values k*3+1 (little endian) from offset 0.
func advScanSetup(t *testing.T, n int, opts *chunkmap.Options) (*chunkmap.Manager, *accessor.ViewAccessor, string) {
	t.Helper()
	dir := t.TempDir()
	m := advOpen(t, dir, opts)
	va := accessor.New(m, nil)
	src := make([]uint64, n)
	for i := range src {
		src[i] = uint64(i)*3 + 1
	}
	if err := va.WriteUint64s(0, src); err != nil {
		t.Fatal(err)
	}
	return m, va, dir
}

// TestAdversarialScanBreakEveryWhere proves that breaking out of a typed
// or block scan at any step (around the 2 KiB pieces, the unrolled groups
// of four and the chunk boundaries) yields exactly the values before the
// break, in order, leaves Err nil and holds nothing afterwards.
func TestAdversarialScanBreakEveryWhere(t *testing.T) {
	const n = 3 * advCS / 8
	m, va, _ := advScanSetup(t, n, nil)
	for _, stop := range []int{0, 1, 2, 3, 4, 5, 255, 256, 257, 258, 259, 260, advCS/8 - 1, advCS / 8, advCS/8 + 1, n - 1} {
		s := va.Scan()
		k := 0
		for off, x := range s.Uint64s(0, n) {
			if off != int64(8*k) || x != uint64(k)*3+1 {
				t.Fatalf("stop %d: step %d yielded (%d, %d)", stop, k, off, x)
			}
			if k == stop {
				break
			}
			k++
		}
		if k != stop || s.Err() != nil {
			t.Fatalf("stop %d: ended at %d, Err %v", stop, k, s.Err())
		}
		advPinned(t, m, fmt.Sprintf("after breaking at %d", stop))
	}
	for stop := 0; stop < 3; stop++ {
		s := va.Scan()
		k := 0
		for off, b := range s.Blocks(5, 3*advCS-10) {
			if want := []int64{5, advCS, 2 * advCS}[k]; off != want {
				t.Fatalf("block %d at %d, want %d", k, off, want)
			}
			if want := []int{advCS - 5, advCS, advCS - 5}[k]; len(b) != want {
				t.Fatalf("block %d has %d bytes, want %d", k, len(b), want)
			}
			if k == stop {
				break
			}
			k++
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		advPinned(t, m, fmt.Sprintf("after breaking a block scan at %d", stop))
	}
}

// TestAdversarialScanPanicReleases proves that a panic in the loop body of
// a typed scan, of a block scan and of a nested scan goes on unchanged
// (the same value reaches the caller's recover), and that nothing stays
// held afterwards: Stats().Pinned is 0 and Close succeeds without ErrBusy.
func TestAdversarialScanPanicReleases(t *testing.T) {
	m, va, _ := advScanSetup(t, 3*advCS/8, nil)
	type boom struct{ n int }
	run := func(what string, f func()) {
		t.Helper()
		var got any
		func() {
			defer func() { got = recover() }()
			f()
		}()
		if b, ok := got.(boom); !ok || b.n != 7 {
			t.Errorf("%s: recovered %v (%T), want boom{7}", what, got, got)
		}
		advPinned(t, m, what)
	}
	run("typed", func() {
		s := va.Scan()
		for _, x := range s.Uint32s(12, 5000) {
			if x != 0 {
				panic(boom{7})
			}
		}
	})
	run("blocks", func() {
		s := va.Scan()
		for off := range s.Blocks(0, 3*advCS) {
			if off == advCS {
				panic(boom{7})
			}
		}
	})
	run("nested blocks", func() {
		s := va.Scan()
		for range s.Blocks(0, 2*advCS) {
			for range s.Blocks(advCS, 2*advCS) {
				for range s.Int16s(2, 10) {
					panic(boom{7})
				}
			}
		}
	})
	run("error value that wraps ErrFault", func() {
		// A panic value that looks like a fault must still go on as itself.
		defer func() {
			if r := recover(); r != nil {
				if e, ok := r.(error); ok && errors.Is(e, chunkmap.ErrFault) {
					panic(boom{7})
				}
				panic(r)
			}
		}()
		s := va.Scan()
		for range s.Blocks(0, advCS) {
			panic(fmt.Errorf("not a real fault: %w", chunkmap.ErrFault))
		}
	})
	if err := m.Close(); err != nil {
		t.Fatalf("Close after the panics: %v", err)
	}
}

// TestAdversarialScanBodyCallsManager proves that a loop body may call
// Truncate, DropBefore, Append, Sync and Close on the Manager without a
// deadlock, and that the scan then ends with the right sentinel in Err
// having yielded only correct values.
func TestAdversarialScanBodyCallsManager(t *testing.T) {
	const n = 4 * advCS / 8
	cases := []struct {
		name    string
		body    func(m *chunkmap.Manager) error
		want    error // nil: the scan must complete
		atBlock int   // for block scans, the step where body runs
	}{
		{"truncate", func(m *chunkmap.Manager) error { return m.Truncate(advCS + 100) }, chunkmap.ErrOutOfRange, 0},
		{"dropbefore", func(m *chunkmap.Manager) error { return m.DropBefore(3 * advCS) }, chunkmap.ErrOutOfRange, 0},
		{"append", func(m *chunkmap.Manager) error { _, err := m.Append(make([]byte, 3*advCS)); return err }, nil, 0},
		{"sync", func(m *chunkmap.Manager) error { return m.Sync() }, nil, 0},
		{"close", func(m *chunkmap.Manager) error { return m.Close() }, chunkmap.ErrClosed, 0},
	}
	for _, c := range cases {
		t.Run(c.name+"/typed", func(t *testing.T) {
			m, va, _ := advScanSetup(t, n, nil)
			advTimeout(t, 15*time.Second, c.name, func() {
				s := va.Scan()
				k := 0
				for off, x := range s.Uint64s(0, n) {
					if off != int64(8*k) || x != uint64(k)*3+1 {
						t.Errorf("step %d yielded (%d, %d)", k, off, x)
						break
					}
					if k == 10 {
						if err := c.body(m); err != nil {
							t.Errorf("%s in the body: %v", c.name, err)
						}
					}
					k++
				}
				if c.want == nil {
					if s.Err() != nil || k != n {
						t.Errorf("scan ended after %d of %d values, Err %v", k, n, s.Err())
					}
				} else {
					advIsErr(t, "Err", s.Err(), c.want, "scan")
					if k >= n {
						t.Errorf("scan yielded all %d values", k)
					}
				}
			})
			advPinned(t, m, "after the scan")
		})
		t.Run(c.name+"/blocks", func(t *testing.T) {
			m, va, _ := advScanSetup(t, n, nil)
			advTimeout(t, 15*time.Second, c.name, func() {
				s := va.Scan()
				k := 0
				for off, b := range s.Blocks(0, 4*advCS) {
					if off != int64(k)*advCS || len(b) != advCS {
						t.Errorf("block %d at %d, %d bytes", k, off, len(b))
						break
					}
					if got := binary.LittleEndian.Uint64(b[8:]); got != uint64(off/8+1)*3+1 {
						t.Errorf("block %d: value %d", k, got)
					}
					if k == 0 {
						err := c.body(m)
						if c.name == "close" {
							advIsErr(t, "Close inside a block", err, chunkmap.ErrBusy)
						} else if err != nil {
							t.Errorf("%s in the body: %v", c.name, err)
						}
					}
					k++
				}
				if c.want == nil {
					if s.Err() != nil || k != 4 {
						t.Errorf("block scan ended after %d blocks, Err %v", k, s.Err())
					}
				} else {
					advIsErr(t, "Err", s.Err(), c.want, "scan")
					if k != 1 {
						t.Errorf("block scan yielded %d blocks, want 1", k)
					}
				}
			})
			advPinned(t, m, "after the block scan")
		})
	}
}

// TestAdversarialScanConcurrentShrink proves that typed and block scans
// running while other goroutines truncate, re-extend and drop chunks never
// panic or hang, yield only values that were stored at their offset (each
// value encodes its offset), in order, and end either complete or with
// ErrOutOfRange in Err; and that nothing stays held.
func TestAdversarialScanConcurrentShrink(t *testing.T) {
	const chunks = 8
	dir := t.TempDir()
	m := advOpen(t, dir, &chunkmap.Options{MaxMapped: 3})
	va := accessor.New(m, nil)
	// Every uint64 holds its offset + 1, so a value of 0 (zeros after a
	// Truncate and re-extension) or any other value is detectable.
	fillAll := func(from, to int64) {
		src := make([]uint64, (to-from)/8)
		for i := range src {
			src[i] = uint64(from+int64(8*i)) + 1
		}
		if err := va.WriteUint64s(from, src); err != nil {
			t.Errorf("refill: %v", err)
		}
	}
	fillAll(0, chunks*advCS)
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			size := m.Size()
			cut := m.Start() + (size-m.Start())/2&^7
			if err := m.Truncate(cut); err != nil {
				t.Errorf("Truncate: %v", err)
				return
			}
			fillAll(cut, chunks*advCS)
			time.Sleep(time.Millisecond)
		}
	}()
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				s := va.Scan()
				last := int64(-8)
				for off, x := range s.Uint64s(0, chunks*advCS/8) {
					if off != last+8 {
						t.Errorf("typed scan yielded offset %d after %d", off, last)
						return
					}
					if x != uint64(off)+1 && x != 0 {
						t.Errorf("typed scan: value %#x at offset %d", x, off)
						return
					}
					last = off
				}
				if err := s.Err(); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("typed scan: Err %v", err)
					return
				}
				s = va.Scan()
				for off, b := range s.Blocks(0, chunks*advCS) {
					if len(b) == 0 || off%advCS != 0 {
						t.Errorf("block at %d of %d bytes", off, len(b))
						return
					}
					x := binary.LittleEndian.Uint64(b)
					if x != uint64(off)+1 && x != 0 {
						t.Errorf("block scan: value %#x at offset %d", x, off)
						return
					}
				}
				if err := s.Err(); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("block scan: Err %v", err)
					return
				}
			}
		}()
	}
	advTimeout(t, 20*time.Second, "concurrent scans", wg.Wait)
	advPinned(t, m, "after concurrent scans")
}

// TestAdversarialScanNegativeAndHuge proves that scans with a negative
// count, a negative offset, an end that overflows int64 or a range past
// Size yield nothing and record ErrOutOfRange, that the first error
// sticks (a later valid scan yields nothing), and that a fresh Scanner
// works again.
func TestAdversarialScanNegativeAndHuge(t *testing.T) {
	m, va, _ := advScanSetup(t, 100, nil)
	scans := []struct {
		name string
		run  func(s *accessor.Scanner) int
	}{
		{"negative count", func(s *accessor.Scanner) (k int) {
			for range s.Uint64s(0, -1) {
				k++
			}
			return
		}},
		{"negative offset", func(s *accessor.Scanner) (k int) {
			for range s.Int32s(-4, 1) {
				k++
			}
			return
		}},
		{"overflowing end", func(s *accessor.Scanner) (k int) {
			for range s.Float64s(8, int(^uint(0)>>1)) {
				k++
			}
			return
		}},
		{"past size", func(s *accessor.Scanner) (k int) {
			for range s.Uint16s(798, 2) {
				k++
			}
			return
		}},
		{"blocks negative", func(s *accessor.Scanner) (k int) {
			for range s.Blocks(0, -5) {
				k++
			}
			return
		}},
		{"blocks overflow", func(s *accessor.Scanner) (k int) {
			for range s.Blocks(10, 1<<63-5) {
				k++
			}
			return
		}},
		{"blocks past size", func(s *accessor.Scanner) (k int) {
			for range s.Blocks(0, 801) {
				k++
			}
			return
		}},
	}
	for _, c := range scans {
		s := va.Scan()
		if k := c.run(s); k != 0 {
			t.Errorf("%s: yielded %d values", c.name, k)
		}
		advIsErr(t, c.name, s.Err(), chunkmap.ErrOutOfRange)
		first := s.Err()
		k := 0
		for range s.Uint64s(0, 10) {
			k++
		}
		if k != 0 || s.Err() != first {
			t.Errorf("%s: a later scan yielded %d values, Err %v (first %v)", c.name, k, s.Err(), first)
		}
	}
	s := va.Scan()
	k := 0
	for range s.Uint64s(0, 100) {
		k++
	}
	if k != 100 || s.Err() != nil {
		t.Errorf("fresh scanner: %d values, Err %v", k, s.Err())
	}
	advPinned(t, m, "at the end")
}
