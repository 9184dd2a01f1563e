//go:build linux

package accessor_test

// Black-box checks of the accessor's scans and views for resource bounds,
// re-entrant loop bodies and hangs: loop bodies that panic, Goexit, close
// the Manager, shrink the dataset or nest scans; views raced against
// Close. The kernel's /proc/self/maps is the judge of what stays mapped.

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/procself"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

const bxaChunk = chunkmap.MinChunkSize

// bxaMapped returns the bytes of this process's mappings of dir's chunk
// files, and the number of maps lines naming any file of dir.
func bxaMapped(t testing.TB, dir string) (chunkBytes int64, lines int) {
	ms, err := procself.Maps()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if !strings.HasPrefix(m.Path, dir+"/") {
			continue
		}
		lines++
		if strings.HasSuffix(m.Path, ".chunk") {
			chunkBytes += m.Bytes()
		}
	}
	return chunkBytes, lines
}

func bxaFDs(t testing.TB, dir string) int {
	fds, err := procself.FDs()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range fds {
		if procself.Under(l, dir) {
			n++
		}
	}
	return n
}

func bxaOpen(t *testing.T, maxMapped, chunks int) (*chunkmap.Manager, *accessor.ViewAccessor, string) {
	t.Helper()
	dir := t.TempDir() + "/ds"
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: bxaChunk, MaxMapped: maxMapped, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, bxaChunk)
	for c := 0; c < chunks; c++ {
		for i := range buf {
			buf[i] = byte(c*7 + i)
		}
		if _, err := m.WriteAt(buf, int64(c)*bxaChunk); err != nil {
			t.Fatal(err)
		}
	}
	return m, accessor.New(m, nil), dir
}

// bxaQuiet checks the bound with nothing held.
func bxaQuiet(t *testing.T, m *chunkmap.Manager, dir string, maxMapped int, what string) {
	t.Helper()
	st := m.Stats()
	if st.Pinned != 0 || st.Mapped > maxMapped {
		t.Errorf("%s: Stats %+v, want Pinned 0 and Mapped <= %d", what, st, maxMapped)
	}
	if b, _ := bxaMapped(t, dir); b != int64(st.Mapped)*bxaChunk {
		t.Errorf("%s: the kernel maps %.2f chunks, Stats().Mapped = %d", what, float64(b)/bxaChunk, st.Mapped)
	}
}

// bxaGone waits for every mapping and descriptor of dir to go, after the
// Manager is unreachable: its cleanup runs within milliseconds of a
// collection, but the race detector and other test binaries on a loaded
// machine can delay it far longer, so the wait only tells a leak, which
// never goes, from a late cleanup.
func bxaGone(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		_, lines := bxaMapped(t, dir)
		fds := bxaFDs(t, dir)
		if lines == 0 && fds == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after Close: %d maps lines and %d descriptors of %s left", lines, fds, dir)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errBxaPanic = errors.New("boundx: loop body panic")

// TestBoundxIterBlocksReentrant runs block scans whose loop bodies call
// back into the library (nested scans, Pin, Batch, Truncate, DropBefore,
// Sync, Close), panic, runtime.Goexit or break, over more chunks than
// MaxMapped. Nothing may hang; a panic goes on with its own value; Err
// names a sentinel; and after each scan nothing is held and the kernel maps
// no more than MaxMapped chunks.
func TestBoundxIterBlocksReentrant(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	const chunks = 6
	cases := []struct {
		name    string
		body    func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool
		wantErr error // in Err after the scan; nil: none
		panics  bool
	}{
		{"nested", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			s := va.Scan()
			for o2, b2 := range s.Blocks(m.Start(), m.Size()-m.Start()) {
				if b2[0] != byte((o2/bxaChunk)*7+o2%bxaChunk) || b[0] != byte((off/bxaChunk)*7+off%bxaChunk) {
					t.Errorf("nested scan: wrong bytes at %d/%d", off, o2)
				}
			}
			if err := s.Err(); err != nil {
				t.Errorf("nested scan: %v", err)
			}
			return true
		}, nil, false},
		{"pin and batch", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			p, err := m.Pin(m.Start(), int(m.Size()-m.Start()))
			if err != nil {
				t.Errorf("Pin in loop body: %v", err)
				return false
			}
			err = m.Batch(func(bt *chunkmap.Batch) error {
				_, err := bt.Bytes(m.Start(), int(m.Size()-m.Start()))
				return err
			})
			p.Release()
			if err != nil {
				t.Errorf("Batch in loop body: %v", err)
			}
			return true
		}, nil, false},
		{"sync", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			if err := m.Sync(); err != nil {
				t.Errorf("Sync in loop body: %v", err)
			}
			return true
		}, nil, false},
		{"truncate", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			if err := m.Truncate(off + int64(len(b))); err != nil {
				t.Errorf("Truncate in loop body: %v", err)
			}
			_ = b[len(b)-1] // the block stays valid until the step ends
			return true
		}, chunkmap.ErrOutOfRange, false},
		{"dropbefore", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			if err := m.DropBefore(m.Size() + 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("DropBefore past Size in loop body: %v, want ErrOutOfRange", err)
			}
			if err := m.DropBefore(off + bxaChunk); err != nil {
				t.Errorf("DropBefore in loop body: %v", err)
			}
			_ = b[len(b)-1]
			return true
		}, nil, false},
		{"close", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) {
				t.Errorf("Close in a block scan's loop body: %v, want ErrBusy", err)
			}
			_ = b[len(b)-1]
			return true
		}, chunkmap.ErrClosed, false},
		{"panic", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			if off >= 2*bxaChunk {
				panic(errBxaPanic)
			}
			return true
		}, nil, true},
		{"break", func(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor, off int64, b []byte) bool {
			return off < 2*bxaChunk
		}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, va, dir := bxaOpen(t, 1, chunks)
			s := va.Scan()
			var got any
			func() {
				defer func() { got = recover() }()
				for off, b := range s.Blocks(0, chunks*bxaChunk) {
					if !tc.body(t, m, va, off, b) {
						break
					}
				}
			}()
			if tc.panics && got != errBxaPanic { //nolint:errorlint
				t.Errorf("recovered %v, want the loop body's own panic", got)
			} else if !tc.panics && got != nil {
				t.Errorf("the scan panicked: %v", got)
			}
			if err := s.Err(); (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("Err() = %v, want %v", err, tc.wantErr)
			}
			bxaQuiet(t, m, dir, 1, "after the scan")
			if tc.name == "close" {
				if st := m.Stats(); st.Mapped != 0 {
					t.Errorf("closed, scan over: Stats %+v", st)
				}
			} else if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			m, va = nil, nil
			bxaGone(t, dir)
		})
	}
	// runtime.Goexit out of a loop body, on a goroutine of its own.
	m, va, dir := bxaOpen(t, 1, chunks)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := va.Scan()
		for off := range s.Blocks(0, chunks*bxaChunk) {
			if off >= bxaChunk {
				runtime.Goexit()
			}
		}
	}()
	wg.Wait()
	bxaQuiet(t, m, dir, 1, "after Goexit out of a block scan")
	if err := m.Close(); err != nil {
		t.Errorf("Close after Goexit out of a block scan: %v, want nil", err)
	}
	m, va = nil, nil
	bxaGone(t, dir)
}

// TestBoundxIterTypedReentrant does the same with typed scans, whose loop
// bodies run holding nothing: a body that closes the Manager ends the scan
// with ErrClosed, one that truncates it with ErrOutOfRange, one that
// panics goes on panicking.
func TestBoundxIterTypedReentrant(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	const chunks = 4
	for _, what := range []string{"close", "truncate", "panic", "nested"} {
		t.Run(what, func(t *testing.T) {
			m, va, dir := bxaOpen(t, 1, chunks)
			s := va.Scan()
			var got any
			count := 0
			func() {
				defer func() { got = recover() }()
				for off := range s.Uint64s(0, chunks*bxaChunk/8) {
					count++
					if off != 2*bxaChunk+64 {
						continue
					}
					switch what {
					case "close":
						if err := m.Close(); err != nil {
							t.Errorf("Close in a typed scan's loop body: %v, want nil (nothing is held)", err)
						}
					case "truncate":
						if err := m.Truncate(2 * bxaChunk); err != nil {
							t.Error(err)
						}
					case "panic":
						panic(errBxaPanic)
					case "nested":
						s2 := va.Scan()
						for range s2.Uint64s(0, chunks*bxaChunk/8) {
						}
						for range s2.Blocks(0, chunks*bxaChunk) {
						}
						if err := s2.Err(); err != nil {
							t.Error(err)
						}
					}
				}
			}()
			switch what {
			case "panic":
				if got != errBxaPanic { //nolint:errorlint
					t.Errorf("recovered %v, want the body's panic", got)
				}
			default:
				if got != nil {
					t.Errorf("panicked: %v", got)
				}
			}
			err := s.Err()
			switch what {
			case "close":
				if !errors.Is(err, chunkmap.ErrClosed) {
					t.Errorf("Err() = %v, want ErrClosed", err)
				}
			case "truncate":
				if !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("Err() = %v, want ErrOutOfRange", err)
				}
			default:
				if err != nil {
					t.Errorf("Err() = %v", err)
				}
			}
			if what != "close" {
				bxaQuiet(t, m, dir, 1, "after the scan")
				if err := m.Close(); err != nil {
					t.Error(err)
				}
			}
			m, va = nil, nil
			bxaGone(t, dir)
		})
	}
}

// TestBoundxViewsClose races views (Slice, Bytes, double Release from many
// goroutines) against Close with MaxMapped 1: Close returns without
// waiting, views taken before it stay readable until released, views
// asked for after it fail with ErrClosed, and once every view is released
// nothing is mapped or open.
func TestBoundxViewsClose(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	const chunks = 8
	for round := 0; round < 5; round++ {
		m, va, dir := bxaOpen(t, 1, chunks)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var kept []*accessor.View
		var bad []string
		closing := make(chan struct{})
		for g := 0; g < 100; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; ; i++ {
					off := int64((g*131+i*17)%(chunks*bxaChunk-3*bxaChunk)) + 1
					w, err := va.Slice(off, 2*bxaChunk+g)
					if err != nil {
						if !errors.Is(err, chunkmap.ErrClosed) {
							mu.Lock()
							bad = append(bad, fmt.Sprintf("Slice: %v", err))
							mu.Unlock()
						}
						return
					}
					b := w.Bytes()
					if b[0] != byte((off/bxaChunk)*7+off%bxaChunk) {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("Slice(%d): wrong byte", off))
						mu.Unlock()
					}
					if i%7 == 3 {
						mu.Lock()
						kept = append(kept, w)
						mu.Unlock()
						continue
					}
					var rw sync.WaitGroup
					for k := 0; k < 3; k++ {
						rw.Add(1)
						go func() { defer rw.Done(); w.Release() }()
					}
					rw.Wait()
					if w.Bytes() != nil {
						mu.Lock()
						bad = append(bad, "View.Bytes after Release is not nil")
						mu.Unlock()
					}
					select {
					case <-closing:
					default:
					}
				}
			}(g)
		}
		time.Sleep(time.Duration(10+5*round) * time.Millisecond)
		close(closing)
		if err := m.Close(); err != nil {
			t.Errorf("round %d: Close: %v", round, err)
		}
		wg.Wait()
		for _, s := range bad[:min(len(bad), 5)] {
			t.Errorf("round %d: %s", round, s)
		}
		for _, w := range kept {
			off := w.Off()
			if b := w.Bytes(); b[0] != byte((off/bxaChunk)*7+off%bxaChunk) {
				t.Errorf("round %d: a view kept across Close reads wrong", round)
			}
		}
		st := m.Stats()
		if st.Mapped < 1 && len(kept) > 0 {
			t.Errorf("round %d: %d views kept, Stats %+v", round, len(kept), st)
		}
		for _, w := range kept {
			w.Release()
			w.Release()
		}
		if st := m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
			t.Errorf("round %d: after Close and every release: Stats %+v", round, st)
		}
		m, va, kept = nil, nil, nil
		bxaGone(t, dir)
	}
}
