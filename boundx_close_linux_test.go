//go:build linux

package chunkmap_test

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// bxPatOrZero checks that every byte of b is the storm pattern or zero
// (zero: truncated and extended again, or appended).
func bxPatOrZero(b []byte, off int64) (int64, bool) {
	for i := range b {
		if b[i] != 0 && b[i] != bxPat(off+int64(i)) {
			return off + int64(i), false
		}
	}
	return 0, true
}

// TestBoundxCloseRace races Close against hundreds of goroutines that
// grow, shrink, sync, pin, batch, scan and read, some of them calling Close
// (or Truncate, DropBefore, Sync) from inside a Batch function or a scan's
// loop body. Every call must return, with an error that matches a
// sentinel; after Close every method must return ErrClosed; pins taken
// before Close must stay readable until released; and once they are
// released no mapping, descriptor or goroutine may be left.
func TestBoundxCloseRace(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	baseG := runtime.NumGoroutine()
	for round := 0; round < 4; round++ {
		bxCloseRound(t, round, 64)
	}
	bxWaitGone(t, "/nonexistent-boundx", baseG)
}

func bxCloseRound(t *testing.T, round, workers int) {
	const chunks = 12
	o := chunkmap.Options{MaxMapped: 1 + round%3, NoAdmission: round%2 == 1}
	if round == 3 {
		o.ArenaSize = 4 * bxChunk
	}
	m, dir := bxOpen(t, o)
	for ch := int64(0); ch < chunks; ch++ {
		if _, err := m.WriteAt(bxPatBuf(ch*bxChunk, bxChunk), ch*bxChunk); err != nil {
			t.Fatal(err)
		}
	}
	va := accessor.New(m, nil)
	var errs bxErrs
	var closed atomic.Bool // set once some Close returned
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Pins kept across Close, released at the end.
	var keptMu sync.Mutex
	var kept []*chunkmap.Pinned
	var keptOff []int64

	worker := func(id int) {
		defer wg.Done()
		r := rand.New(rand.NewPCG(uint64(id), uint64(round)))
		sc := va.Scan()
		for {
			select {
			case <-stop:
				return
			default:
			}
			afterClose := closed.Load()
			size := m.Size()
			start := m.Start()
			span := max(size-start, 1)
			off := start + r.Int64N(span)
			n := 1 + r.IntN(2*bxChunk)
			var err error
			what := ""
			switch r.IntN(16) {
			case 0:
				what = "ReadAt"
				p := make([]byte, n)
				var k int
				k, err = m.ReadAt(p, off)
				if bad, ok := bxPatOrZero(p[:k], off); !ok {
					errs.add("ReadAt(%d, %d): byte at %d is %d, want %d or 0", n, off, bad, p[bad-off], bxPat(bad))
				}
			case 1:
				what = "WriteAt"
				wo := start + r.Int64N(span+2*bxChunk)
				_, err = m.WriteAt(bxPatBuf(wo, n), wo)
			case 2:
				what = "Append"
				_, err = m.Append(make([]byte, 1+r.IntN(5000)))
			case 3:
				what = "Truncate"
				if m.Size() > 14*bxChunk || r.IntN(3) == 0 {
					err = m.Truncate(start + r.Int64N(span))
				}
			case 4:
				what = "DropBefore"
				if r.IntN(4) == 0 {
					err = m.DropBefore(start + r.Int64N(span/4+1))
				}
			case 5:
				what = "Sync"
				err = m.Sync()
			case 6, 7:
				what = "Pin"
				var p *chunkmap.Pinned
				p, err = m.Pin(off, n)
				if err == nil {
					if bad, ok := bxPatOrZero(p.Bytes(), off); !ok {
						errs.add("Pin(%d, %d): byte at %d wrong", off, n, bad)
					}
					if r.IntN(8) == 0 {
						keptMu.Lock()
						kept, keptOff = append(kept, p), append(keptOff, off)
						keptMu.Unlock()
					} else {
						p.Release()
					}
				}
			case 8:
				what = "Batch"
				err = m.Batch(func(b *chunkmap.Batch) error {
					for i := 0; i < 3; i++ {
						bo := start + r.Int64N(span)
						p, err := b.WritableBytes(bo, 1+r.IntN(bxChunk))
						if err != nil {
							return err
						}
						if bad, ok := bxPatOrZero(p, bo); !ok {
							errs.add("Batch.WritableBytes(%d): byte at %d wrong", bo, bad)
						}
						if r.IntN(50) == 0 {
							// Re-entrant calls from the function.
							switch r.IntN(4) {
							case 0:
								cerr := m.Close()
								if cerr == nil || (!errors.Is(cerr, chunkmap.ErrBusy) && !errors.Is(cerr, chunkmap.ErrClosed)) {
									errs.add("Close inside a Batch: %v, want ErrBusy or ErrClosed", cerr)
								}
								closed.Store(true)
							case 1:
								errs.check("Truncate in Batch", m.Truncate(m.Size()/2))
							case 2:
								errs.check("Sync in Batch", m.Sync())
							case 3:
								errs.check("nested Batch", m.Batch(func(b2 *chunkmap.Batch) error {
									_, err := b2.Bytes(m.Start(), 1)
									return err
								}))
							}
						}
					}
					return nil
				})
			case 9:
				what = "Gather"
				offs := []int64{off, start + r.Int64N(span)}
				dst := make([]byte, 16)
				if err = m.Gather(dst, offs, 1); err == nil {
					for i, o := range offs {
						if bad, ok := bxPatOrZero(dst[i:i+1], o); !ok {
							errs.add("Gather at %d wrong", bad)
						}
					}
				}
			case 10:
				what = "Scan.Blocks"
				bn := int64(n)
				for bo, b := range sc.Blocks(off, bn) {
					if bad, ok := bxPatOrZero(b, bo); !ok {
						errs.add("Blocks at %d wrong", bad)
					}
					if r.IntN(30) == 0 {
						cerr := m.Close()
						if cerr == nil || (!errors.Is(cerr, chunkmap.ErrBusy) && !errors.Is(cerr, chunkmap.ErrClosed)) {
							errs.add("Close inside a block scan: %v, want ErrBusy or ErrClosed", cerr)
						}
						closed.Store(true)
					}
				}
				err = sc.Err()
				sc = va.Scan()
			case 11:
				what = "Scan.Uint64s"
				for range sc.Uint64s(off, n/8) {
					if r.IntN(200) == 0 {
						errs.check("DropBefore in scan", m.DropBefore(m.Start()+bxChunk))
					}
				}
				err = sc.Err()
				sc = va.Scan()
			case 12:
				what = "Slice"
				var w *accessor.View
				if w, err = va.Slice(off, n); err == nil {
					w.Release()
				}
			case 13:
				what = "Advise"
				err = m.Advise(off, int64(n), chunkmap.AdviceWillNeed)
			case 14:
				what = "Grow"
				err = m.Grow(int64(r.IntN(2 * bxChunk)))
			case 15:
				what = "AddUint64"
				_, err = m.AddUint64(off&^7, 0)
			}
			errs.check(what, err)
			if afterClose && what != "Truncate" && what != "DropBefore" && what != "Scan.Uint64s" {
				// Some calls do nothing without an error whatever the
				// state (a Truncate skipped above); the others must say
				// the Manager is closed.
				if err == nil && (what == "ReadAt" || what == "WriteAt" || what == "Pin" || what == "Sync" || what == "Batch" || what == "Slice") {
					errs.add("%s after Close returned nil, want ErrClosed", what)
				}
			}
			if afterClose {
				return
			}
		}
	}
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go worker(i)
	}
	time.Sleep(time.Duration(15+rand.IntN(30)) * time.Millisecond)
	cerr := m.Close()
	if cerr != nil && !errors.Is(cerr, chunkmap.ErrBusy) && !errors.Is(cerr, chunkmap.ErrClosed) {
		t.Errorf("round %d: Close: %v", round, cerr)
	}
	closed.Store(true)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		buf := make([]byte, 8<<20)
		t.Fatalf("round %d: workers did not return after Close:\n%s", round, buf[:runtime.Stack(buf, true)])
	}
	close(stop)
	errs.report(t)

	// Every method now says ErrClosed.
	bxAllClosed(t, m, va)

	// Pins taken before Close are still readable.
	for i, p := range kept {
		if bad, ok := bxPatOrZero(p.Bytes(), keptOff[i]); !ok {
			t.Errorf("round %d: a pin kept across Close reads byte at %d wrong", round, bad)
		}
	}
	if st := m.Stats(); len(kept) == 0 && st.Mapped != 0 {
		t.Errorf("round %d: after Close with nothing held: Stats %+v", round, st)
	}
	for _, p := range kept {
		p.Release()
	}
	if st := m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
		t.Errorf("round %d: after Close and every release: Stats %+v", round, st)
	}
	if !m.ArenaReleased() {
		t.Errorf("round %d: the arena is not retired after Close and every release", round)
	}
	m, va, kept = nil, nil, nil
	bxWaitGone(t, dir, 1<<30)
}

// bxAllClosed checks that every method of a closed m returns ErrClosed.
func bxAllClosed(t *testing.T, m *chunkmap.Manager, va *accessor.ViewAccessor) {
	t.Helper()
	want := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	p := make([]byte, 8)
	_, err := m.ReadAt(p, 0)
	want("ReadAt", err)
	_, err = m.WriteAt(p, 0)
	want("WriteAt", err)
	_, err = m.Append(p)
	want("Append", err)
	_, err = m.Pin(m.Start(), 1)
	want("Pin", err)
	_, err = m.PinWritable(m.Start(), 1)
	want("PinWritable", err)
	want("Batch", m.Batch(func(*chunkmap.Batch) error { return nil }))
	want("Gather", m.Gather(p, []int64{m.Start()}, 1))
	want("Scatter", m.Scatter(p, []int64{m.Start()}, 1))
	want("Truncate", m.Truncate(m.Size()))
	want("DropBefore", m.DropBefore(m.Start()))
	want("Sync", m.Sync())
	want("Advise", m.Advise(m.Start(), 1, chunkmap.AdviceNormal))
	want("Grow", m.Grow(1))
	_, err = m.AddUint64(m.Start(), 1)
	want("AddUint64", err)
	_, err = m.LoadUint64(m.Start())
	want("LoadUint64", err)
	want("Close", m.Close())
	_, err = va.Slice(m.Start(), 1)
	want("accessor Slice", err)
	_, err = va.ReadUint64(m.Start())
	want("accessor ReadUint64", err)
	s := va.Scan()
	for range s.Uint64s(m.Start(), 1) {
	}
	want("Scan.Uint64s", s.Err())
	s = va.Scan()
	for range s.Blocks(m.Start(), 1) {
	}
	want("Scan.Blocks", s.Err())
}
