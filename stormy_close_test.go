package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestStormy_CallsAfterCloseReturnErrClosed closes the writer (once, three
// times at once, or together with the follower) while owners, noise, the
// dropper, the holder's long-lived pins, and a truncating goroutine or an
// appender keep at it. Whatever Close races returns nil or a sentinel naming
// its operation; of three concurrent Close calls exactly one closes; every
// call that starts after Close returned returns ErrClosed; a write that
// returned ErrClosed did nothing ("Nothing was done"), and every write that
// returned nil is in the dataset when it is opened again; pins taken before
// Close stay readable and intact until Release, and after the last Release
// nothing stays mapped or held.
func TestStormy_CallsAfterCloseReturnErrClosed(t *testing.T) {
	stormyCloseScenarios(t, []string{"Close", "ThreeClosesAtOnce", "CloseWriterAndFollower"})
}

// TestStormy_CloseInsideHoldReturnsErrBusy closes the writer from inside a
// Batch function, a block scan's loop body and an accessor Batch function,
// with the same storm around it. Close returns ErrBusy and closes all the
// same ("Every later call returns ErrClosed"); the bytes the Batch or the
// block holds stay valid and intact until the function or the step returns;
// the Batch's next call returns ErrClosed, and a block scan ends with
// ErrClosed in Err; everything else is as in
// TestStormy_CallsAfterCloseReturnErrClosed.
func TestStormy_CloseInsideHoldReturnsErrBusy(t *testing.T) {
	stormyCloseScenarios(t, []string{"CloseInsideBatch", "CloseInsideBlocks", "CloseInsideAccessorBatch"})
}

func stormyCloseScenarios(t *testing.T, modes []string) {
	seed := stormySeed(t)
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			cfg := stormyBaseConfig()
			cfg.drop = true
			// Alternate modes race Close with Truncate and with Append (an
			// Append lands at Size, which a Truncate may have put inside the
			// owned area, so not both).
			if (i+int(seed%2))%2 == 0 {
				cfg.shrink = true
			} else {
				cfg.appenders = 1
			}
			e := stormyNewEnv(t)
			w := stormyNewWorld(e, seed+uint64(i)*7919, cfg)
			w.closeOnCleanup(t)
			rng := stormyRNG(seed, uint64(77+i))
			threshold := 20 + rng.Int64N(200)
			w.closeScenario = true
			w.storm(0, func(sg *stormyGroup) {
				sg.Go("closer", func() { w.closer(mode, threshold) })
			})
			w.closeScenario = false
			t.Logf("shrink %v, appender %v: %d owner operations in all, Close after %d", cfg.shrink, cfg.appenders > 0, w.ops.Load(), threshold)
			stormyAllClosed(e, "writer", w.m, w.va, w.base)
			if mode == "CloseWriterAndFollower" {
				stormyAllClosed(e, "follower", w.ro, w.rva, w.base)
			} else if w.ro != nil {
				// The follower outlives its writer and still reads every byte.
				w.readback("follower after the writer's Close", w.ro)
			}
			w.finish()
		})
	}
}

// closer waits until the owners have run threshold operations (or half the
// phase's budget is spent), then closes the writer as mode says.
func (w *stormyWorld) closer(mode string, threshold int64) {
	deadline := time.Now().Add(stormyBudget() / 2)
	for w.ops.Load() < threshold && time.Now().Before(deadline) && !w.e.failing() {
		time.Sleep(100 * time.Microsecond)
	}
	fa, fn := w.base, w.floor-w.base // the frozen cells: nobody writes them
	frozen := w.shadow[:fn]
	switch mode {
	case "Close":
		w.closing.Store(true)
		w.fl.begin(64)
		err := w.m.Close()
		w.fl.end(64)
		w.e.check("Close", "close ", err, chunkmap.ErrBusy)
	case "ThreeClosesAtOnce":
		w.closing.Store(true)
		errs := make([]error, 3)
		var wg sync.WaitGroup
		w.fl.begin(64)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = w.m.Close() }()
		}
		wg.Wait()
		w.fl.end(64)
		closers := 0
		for i, err := range errs {
			if errors.Is(err, chunkmap.ErrClosed) {
				w.e.check(fmt.Sprintf("concurrent Close %d", i), "close ", err, chunkmap.ErrClosed)
			} else {
				closers++
				w.e.check(fmt.Sprintf("concurrent Close %d", i), "close ", err, chunkmap.ErrBusy)
			}
		}
		if closers != 1 {
			w.e.failf("%d of 3 concurrent Close calls did not return ErrClosed (%v), want exactly one", closers, errs)
		}
	case "CloseInsideBatch":
		w.fl.begin(64)
		err := w.m.Batch(func(bt *chunkmap.Batch) error {
			p, e := bt.Bytes(fa, int(fn))
			if e != nil {
				w.e.failf("Batch Bytes of the frozen cells: %v", e)
				return nil
			}
			w.closing.Store(true)
			ce := w.m.Close()
			if !errors.Is(ce, chunkmap.ErrBusy) {
				w.e.failf("Close inside a Batch: %v, want ErrBusy", ce)
			}
			w.e.check("Close inside a Batch", "close ", ce, chunkmap.ErrBusy)
			w.closed.Store(true)
			// The Batch's bytes stay valid until its function returns.
			if !bytes.Equal(p, frozen) {
				w.e.failf("Close inside a Batch: the Batch's bytes changed after Close")
			}
			_, e = bt.Bytes(fa, 8)
			if !errors.Is(e, chunkmap.ErrClosed) {
				w.e.failf("Batch call after Close: %v, want ErrClosed", e)
			} else {
				w.e.check("Batch call after Close", "batch read ", e, chunkmap.ErrClosed)
			}
			return nil
		})
		w.fl.end(64)
		if err != nil {
			w.e.failf("Batch whose function closed the Manager and returned nil: %v", err)
		}
	case "CloseInsideBlocks":
		s := w.va.Scan()
		steps := 0
		next := fa
		w.fl.begin(64)
		for off, blk := range s.Blocks(fa, fn) {
			if steps == 0 {
				w.closing.Store(true)
				ce := w.m.Close()
				if !errors.Is(ce, chunkmap.ErrBusy) {
					w.e.failf("Close inside a block scan's loop body: %v, want ErrBusy (Scanner.Blocks)", ce)
				}
				w.closed.Store(true)
			}
			if off != next || !bytes.Equal(blk, w.shadow[off-w.base:off-w.base+int64(len(blk))]) {
				w.e.failf("block %d at %d (%d bytes) after Close inside the loop body: not the frozen bytes", steps, off, len(blk))
			}
			next = off + int64(len(blk))
			steps++
		}
		w.fl.end(64)
		blocks := int((fa+fn-1)/stormyC - fa/stormyC + 1)
		err := s.Err()
		if blocks > 1 {
			if steps != 1 || !errors.Is(err, chunkmap.ErrClosed) {
				w.e.failf("block scan of %d blocks closed in its first step: %d steps, Err %v; want 1 step and ErrClosed", blocks, steps, err)
			}
			w.e.check("block scan after Close", "scan ", err, chunkmap.ErrClosed)
		}
	case "CloseInsideAccessorBatch":
		w.fl.begin(64)
		err := w.va.Batch(func(bt *accessor.Batch) error {
			x, e := bt.ReadUint64(fa)
			if e != nil {
				w.e.failf("accessor Batch ReadUint64 of a frozen cell: %v", e)
			}
			w.closing.Store(true)
			ce := w.m.Close()
			if !errors.Is(ce, chunkmap.ErrBusy) {
				w.e.failf("Close inside an accessor Batch: %v, want ErrBusy", ce)
			}
			w.closed.Store(true)
			y, e := bt.ReadUint64(fa)
			switch {
			case e == nil && y != x:
				w.e.failf("accessor Batch read after Close: %#x, was %#x", y, x)
			case e != nil:
				w.e.check("accessor Batch read after Close", "batch read ", e, chunkmap.ErrClosed)
			}
			if e := bt.WriteUint64(fa+fn, 0); !errors.Is(e, chunkmap.ErrClosed) {
				w.e.failf("accessor Batch write after Close: %v, want ErrClosed", e)
			}
			return nil
		})
		w.fl.end(64)
		if err != nil {
			w.e.failf("accessor Batch whose function closed the Manager and returned nil: %v", err)
		}
	case "CloseWriterAndFollower":
		w.closing.Store(true)
		w.rclosing.Store(true)
		var werr, rerr error
		var wg sync.WaitGroup
		wg.Add(2)
		w.fl.begin(64)
		w.rfl.begin(64)
		go func() { defer wg.Done(); werr = w.m.Close() }()
		go func() { defer wg.Done(); rerr = w.ro.Close() }()
		wg.Wait()
		w.fl.end(64)
		w.rfl.end(64)
		w.e.check("writer Close", "close ", werr, chunkmap.ErrBusy)
		w.e.check("follower Close", "close ", rerr, chunkmap.ErrBusy)
		w.rclosed.Store(true)
	}
	w.closed.Store(true)
}

// stormyAllClosed calls every method of a closed Manager (and of an
// accessor over it) from several goroutines at once: each returns ErrClosed
// and names its operation.
func stormyAllClosed(e *stormyEnv, name string, m *chunkmap.Manager, v *accessor.ViewAccessor, off int64) {
	type call struct {
		what, prefix string
		f            func() error
	}
	buf := make([]byte, 16)
	calls := []call{
		{"ReadAt", "read ", func() error { _, err := m.ReadAt(buf[:8], off); return err }},
		{"WriteAt", "write ", func() error { _, err := m.WriteAt([]byte{1}, off); return err }},
		{"Append", "append ", func() error { _, err := m.Append([]byte{1}); return err }},
		{"Pin", "pin ", func() error {
			p, err := m.Pin(off, 8)
			if err == nil {
				p.Release()
			}
			return err
		}},
		{"PinWritable", "pin ", func() error {
			p, err := m.PinWritable(off, 8)
			if err == nil {
				p.Release()
			}
			return err
		}},
		{"Gather", "gather ", func() error { return m.Gather(make([]byte, 8), []int64{off}, 8) }},
		{"Scatter", "scatter ", func() error { return m.Scatter(make([]byte, 8), []int64{off}, 8) }},
		{"Truncate", "truncate ", func() error { return m.Truncate(off + 8) }},
		{"DropBefore", "drop ", func() error { return m.DropBefore(off) }},
		{"Grow", "grow ", func() error { return m.Grow(8) }},
		{"Sync", "sync ", func() error { return m.Sync() }},
		{"Refresh", "refresh ", func() error { return m.Refresh() }},
		{"Advise", "advise ", func() error { return m.Advise(off, 8, chunkmap.AdviceWillNeed) }},
		{"LoadUint64", "atomic ", func() error { _, err := m.LoadUint64(off); return err }},
		{"StoreUint32", "atomic ", func() error { return m.StoreUint32(off, 1) }},
		{"AddUint64", "atomic ", func() error { _, err := m.AddUint64(off, 1); return err }},
		{"CompareAndSwapUint32", "atomic ", func() error { _, err := m.CompareAndSwapUint32(off, 0, 1); return err }},
		{"Batch", "batch", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(off, 8); return err })
		}},
		{"Close", "close ", func() error { return m.Close() }},
		{"accessor ReadUint64", "read ", func() error { _, err := v.ReadUint64(off); return err }},
		{"accessor WriteUint16", "write ", func() error { return v.WriteUint16(off, 1) }},
		{"accessor ReadUint32s", "read ", func() error { return v.ReadUint32s(off, make([]uint32, 2)) }},
		{"accessor WriteFloat64s", "write ", func() error { return v.WriteFloat64s(off, []float64{1}) }},
		{"accessor ReadUint64sAt", "gather ", func() error { return v.ReadUint64sAt([]int64{off}, make([]uint64, 1)) }},
		{"accessor WriteUint32sAt", "scatter ", func() error { return v.WriteUint32sAt([]int64{off}, []uint32{1}) }},
		{"accessor Slice", "slice (", func() error {
			s, err := v.Slice(off, 8)
			if err == nil {
				s.Release()
			}
			return err
		}},
		{"accessor AddUint32", "atomic ", func() error { _, err := v.AddUint32(off, 1); return err }},
		{"accessor Batch", "batch", func() error {
			return v.Batch(func(b *accessor.Batch) error { _, err := b.ReadUint8(off); return err })
		}},
		{"accessor io.SectionReader", "read ", func() error { _, err := io.NewSectionReader(v, off, 8).Read(buf); return err }},
		{"accessor scan Uint64s", "scan ", func() error {
			s := v.Scan()
			for range s.Uint64s(off, 2) {
				return errors.New("a scan of a closed Manager yielded a value")
			}
			return s.Err()
		}},
		{"accessor scan Blocks", "scan ", func() error {
			s := v.Scan()
			for range s.Blocks(off, 8) {
				return errors.New("a block scan of a closed Manager yielded a block")
			}
			return s.Err()
		}},
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				c := calls[(i+7*g)%len(calls)]
				what := fmt.Sprintf("%s %s after Close", name, c.what)
				err := c.f()
				if !errors.Is(err, chunkmap.ErrClosed) {
					e.failf("%s: %v, want ErrClosed", what, err)
					continue
				}
				e.check(what, c.prefix, err, chunkmap.ErrClosed)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stormyHang):
		e.t.Fatalf("calls on a closed Manager still running after %v; goroutines:\n%s", stormyHang, stormyStacks())
	}
}
