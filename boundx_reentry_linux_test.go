//go:build linux

package chunkmap_test

import (
	"errors"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// bxQuiet checks the bound with nothing held: Pinned is 0, Mapped at most
// maxMapped, and the kernel maps exactly Stats().Mapped chunks of dir.
func bxQuiet(t *testing.T, m *chunkmap.Manager, dir string, maxMapped int, what string) {
	t.Helper()
	st := m.Stats()
	if st.Pinned != 0 || st.Mapped > maxMapped {
		t.Errorf("%s: Stats %+v, want Pinned 0 and Mapped <= %d", what, st, maxMapped)
	}
	if b, _ := bxMaps(t, dir); b != int64(st.Mapped)*bxChunk {
		t.Errorf("%s: the kernel maps %.2f chunks, Stats().Mapped = %d:\n%s", what, float64(b)/bxChunk, st.Mapped, bxMapsOf(t, dir))
	}
}

// TestBoundxBatchCloseInside closes the Manager from inside a Batch
// function that holds more chunks than MaxMapped: Close must return (with
// ErrBusy), the Batch's next calls ErrClosed, Batch itself fn's error, and
// once it has returned nothing of the dataset may stay mapped or open.
func TestBoundxBatchCloseInside(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	baseG := runtime.NumGoroutine()
	m, dir := bxOpen(t, chunkmap.Options{MaxMapped: 1})
	bxFill(t, m, 6)
	mine := errors.New("fn's own error")
	err := m.Batch(func(b *chunkmap.Batch) error {
		for c := int64(0); c < 4; c++ {
			p, err := b.Bytes(c*bxChunk, bxChunk)
			if err != nil {
				t.Fatalf("Bytes chunk %d: %v", c, err)
			}
			if p[3] != byte(c*7+3) {
				t.Errorf("chunk %d: wrong byte", c)
			}
		}
		if st := m.Stats(); st.Mapped != 4 || st.Pinned != 4 {
			t.Errorf("batch holding 4 chunks: Stats %+v", st)
		}
		cerr := m.Close()
		if !errors.Is(cerr, chunkmap.ErrBusy) {
			t.Errorf("Close inside Batch: %v, want ErrBusy", cerr)
		}
		if cerr := m.Close(); !errors.Is(cerr, chunkmap.ErrClosed) {
			t.Errorf("second Close inside Batch: %v, want ErrClosed", cerr)
		}
		if _, err := b.Bytes(0, 1); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("Batch.Bytes after Close: %v, want ErrClosed", err)
		}
		if _, err := b.WritableBytes(0, 1); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("Batch.WritableBytes after Close: %v, want ErrClosed", err)
		}
		if err := m.Batch(func(*chunkmap.Batch) error { return nil }); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("nested Batch after Close: %v, want ErrClosed", err)
		}
		return mine
	})
	if err != mine { //nolint:errorlint // must be fn's own error, as it is
		t.Errorf("Batch: %v, want fn's error as it is", err)
	}
	if st := m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
		t.Errorf("after the Batch ended: Stats %+v", st)
	}
	m = nil
	bxWaitGone(t, dir, baseG)
}

// TestBoundxBatchPanicReleases panics (and runtime.Goexits) out of Batch
// functions, nested ones too, each holding more chunks than MaxMapped: the
// panic must go on with its own value, the goroutine's SetPanicOnFault
// setting must be what it was, every hold must be released (Stats and the
// kernel agree) and Close must not report open batches.
func TestBoundxBatchPanicReleases(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	m, dir := bxOpen(t, chunkmap.Options{MaxMapped: 2, NoAdmission: true})
	bxFill(t, m, 8)
	holdAll := func(b *chunkmap.Batch, from int64) {
		for c := from; c < from+4; c++ {
			if _, err := b.WritableBytes(c*bxChunk, bxChunk); err != nil {
				t.Fatalf("WritableBytes chunk %d: %v", c, err)
			}
		}
	}
	type myPanic struct{ s string }
	for _, tc := range []struct {
		name string
		val  any
	}{
		{"value", &myPanic{"mine"}},
		{"error", errBxPanic},
		{"runtime error", nil}, // an index out of range
		{"nil", "nil"},         // panic(nil)
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := debug.SetPanicOnFault(false)
			var got any
			func() {
				defer func() { got = recover() }()
				m.Batch(func(b *chunkmap.Batch) error {
					holdAll(b, 0)
					return m.Batch(func(b2 *chunkmap.Batch) error {
						holdAll(b2, 4)
						switch tc.name {
						case "runtime error":
							var a []int
							i := 3
							_ = a[i]
						case "nil":
							panic(nil)
						}
						panic(tc.val)
					})
				})
			}()
			if now := debug.SetPanicOnFault(prev); now {
				t.Errorf("SetPanicOnFault is true after a panic out of Batch; it was false")
			}
			switch tc.name {
			case "nil":
				if _, ok := got.(*runtime.PanicNilError); !ok {
					t.Errorf("recovered %T %v, want *runtime.PanicNilError", got, got)
				}
			case "runtime error":
				if _, ok := got.(runtime.Error); !ok {
					t.Errorf("recovered %T %v, want a runtime.Error", got, got)
				}
			default:
				if got != tc.val {
					t.Errorf("recovered %v, want the panic's own value %v", got, tc.val)
				}
			}
			bxQuiet(t, m, dir, 2, "after a panic out of nested batches")
		})
	}
	// runtime.Goexit (t.FailNow in a helper, say) out of a Batch function.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.Batch(func(b *chunkmap.Batch) error {
			holdAll(b, 2)
			runtime.Goexit()
			return nil
		})
	}()
	wg.Wait()
	bxQuiet(t, m, dir, 2, "after runtime.Goexit out of a batch")
	if err := m.Close(); err != nil {
		t.Errorf("Close after the batches ended by panics: %v, want nil (no batch is open)", err)
	}
	m = nil
	bxWaitGone(t, dir, 1<<30)
}

// bxUseEnded calls b's methods on every chunk of a 6-chunk dataset; b's
// function has returned, so each must return ErrClosed and no bytes.
func bxUseEnded(t *testing.T, who string, b *chunkmap.Batch) {
	t.Helper()
	bad := 0
	for c := int64(0); c < 6; c++ {
		p, err := b.Bytes(c*bxChunk, 10)
		if !errors.Is(err, chunkmap.ErrClosed) || p != nil {
			bad++
			if bad == 1 {
				t.Errorf("%s: Bytes(chunk %d) after the batch ended: %d bytes, err %v; want ErrClosed", who, c, len(p), err)
			}
		}
		p, err = b.WritableBytes(c*bxChunk, 10)
		if !errors.Is(err, chunkmap.ErrClosed) || p != nil {
			bad++
			if bad == 1 {
				t.Errorf("%s: WritableBytes(chunk %d) after the batch ended: %d bytes, err %v; want ErrClosed", who, c, len(p), err)
			}
		}
	}
	if bad > 1 {
		t.Errorf("%s: %d of 12 calls after the batch ended did not return ErrClosed", who, bad)
	}
}

// TestBoundxBatchAfterEnd uses a Batch after its function returned, through
// the pointer fn got, from the same goroutine and from another one: each
// call must return ErrClosed, hand out no bytes and take no hold.
func TestBoundxBatchAfterEnd(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	m, dir := bxOpen(t, chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	bxFill(t, m, 6)
	var leaked *chunkmap.Batch
	if err := m.Batch(func(b *chunkmap.Batch) error {
		leaked = b
		_, err := b.Bytes(0, 3*bxChunk)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bxUseEnded(t, "pointer", leaked)
	done := make(chan struct{})
	go func() { defer close(done); bxUseEnded(t, "pointer, other goroutine", leaked) }()
	<-done
	// While another batch runs (and has likely taken the pooled state).
	if err := m.Batch(func(b *chunkmap.Batch) error {
		_, err := b.Bytes(5*bxChunk, 10)
		bxUseEnded(t, "pointer, while another batch runs", leaked)
		return err
	}); err != nil {
		t.Error(err)
	}
	bxQuiet(t, m, dir, 1, "after using the ended batch's pointer")
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v, want nil", err)
	}
	m = nil
	bxWaitGone(t, dir, 1<<30)
}

// TestBoundxBatchCopyAfterEnd uses a copy of the Batch value fn got, after
// fn returned. The Batch docs promise ErrClosed for a Batch used after its
// function returns and do not forbid copies (Pinned's docs make the same
// promise for copies explicitly). The copy must hand out no bytes and take
// no hold: a hold it took would keep its chunk mapped past MaxMapped for
// good, and past Close.
func TestBoundxBatchCopyAfterEnd(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	m, dir := bxOpen(t, chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	bxFill(t, m, 6)
	var copied *chunkmap.Batch
	if err := m.Batch(func(b *chunkmap.Batch) error {
		c := reflect.New(reflect.TypeFor[chunkmap.Batch]())
		c.Elem().Set(reflect.ValueOf(b).Elem()) // copied := *b
		copied = c.Interface().(*chunkmap.Batch)
		_, err := b.Bytes(0, 3*bxChunk)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bxUseEnded(t, "copy", copied)
	bxQuiet(t, m, dir, 1, "after using a copy of the ended batch")
	// Once the pool lets the state go, nothing ever releases those holds.
	runtime.GC()
	runtime.GC()
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v, want nil", err)
	}
	if st := m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
		t.Errorf("after Close: Stats %+v, want nothing mapped or held", st)
	}
	m = nil
	bxWaitGone(t, dir, 1<<30)
}

// TestBoundxPinnedCopies releases copies of a Pinned, twice and from many
// goroutines at once, while another holder pins the same chunk: the other
// holder's pin must stay (its chunk mapped, counted in Pinned, readable),
// and the bound must hold once everything is released.
func TestBoundxPinnedCopies(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	m, dir := bxOpen(t, chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	bxFill(t, m, 6)
	for round := 0; round < 50; round++ {
		other, err := m.Pin(bxChunk-5, 10) // chunks 0 and 1
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Pin(bxChunk-5, 10)
		if err != nil {
			t.Fatal(err)
		}
		copies := []*chunkmap.Pinned{p, bxCopyPinned(p), bxCopyPinned(p)}
		copies = append(copies, bxCopyPinned(copies[1]))
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c := copies[i%len(copies)]
				c.Release()
				c.Release()
			}(i)
		}
		wg.Wait()
		for i, c := range copies {
			if c.Bytes() != nil {
				t.Fatalf("copy %d: Bytes after Release is not nil", i)
			}
		}
		// Evict all we can: read the other chunks.
		buf := make([]byte, bxChunk)
		for c := int64(2); c < 6; c++ {
			if _, err := m.ReadAt(buf, c*bxChunk); err != nil {
				t.Fatal(err)
			}
		}
		st := m.Stats()
		if st.Pinned != 2 {
			t.Fatalf("round %d: the other holder's pin of 2 chunks: Stats %+v, want Pinned 2", round, st)
		}
		b := other.Bytes()
		if b == nil || b[0] != bxFillByte(bxChunk-5) || b[9] != bxFillByte(bxChunk+4) {
			t.Fatalf("round %d: the other holder's bytes are gone or wrong", round)
		}
		other.Release()
		bxCopyPinned(other).Release()
		bxQuiet(t, m, dir, 1, "after every release")
	}
	var zero chunkmap.Pinned
	zero.Release()
	var nilp *chunkmap.Pinned
	nilp.Release()
	if err := m.Close(); err != nil {
		t.Error(err)
	}
	m = nil
	bxWaitGone(t, dir, 1<<30)
}

// TestBoundxReentrantBatch calls, from inside a Batch function holding
// chunks, every method that changes the dataset (Truncate to Start,
// DropBefore past the held chunks, Sync, WriteAt that makes the chunks
// again, Pin and Release, a nested Batch): nothing may hang, every error
// must match a sentinel, the batch's later calls must see the dataset as
// it is, and after the Batch the bound must hold exactly.
func TestBoundxReentrantBatch(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	m, dir := bxOpen(t, chunkmap.Options{MaxMapped: 2})
	var errs bxErrs
	for round := 0; round < 20; round++ {
		if err := m.Truncate(m.Start()); err != nil {
			t.Fatal(err)
		}
		base := m.Start()
		buf := make([]byte, 6*bxChunk)
		for i := range buf {
			buf[i] = bxPat(base + int64(i))
		}
		if _, err := m.WriteAt(buf, base); err != nil {
			t.Fatal(err)
		}
		err := m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.WritableBytes(base, 4*bxChunk)
			if err != nil {
				return err
			}
			switch round % 5 {
			case 0:
				errs.check("Truncate", m.Truncate(base))
			case 1:
				errs.check("DropBefore", m.DropBefore(base+3*bxChunk))
			case 2:
				errs.check("Sync", m.Sync())
			case 3:
				errs.check("Truncate", m.Truncate(base+bxChunk))
				_, err := m.WriteAt(make([]byte, 3*bxChunk), base+bxChunk)
				errs.check("WriteAt", err)
			case 4:
				errs.check("nested Batch", m.Batch(func(b2 *chunkmap.Batch) error {
					pn, err := m.PinWritable(base, 3*bxChunk)
					if err != nil {
						return err
					}
					defer pn.Release()
					q, err := b2.WritableBytes(base+bxChunk, 2*bxChunk)
					if err != nil {
						return err
					}
					copy(q, pn.Bytes()[bxChunk:])
					return nil
				}))
			}
			// The old bytes stay valid memory until the batch ends.
			copy(p, p[1:])
			// A later call sees the dataset as it is now.
			q, err := b.Bytes(m.Start(), int(min(m.Size()-m.Start(), 3*bxChunk)))
			if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
				errs.check("Bytes after change", err)
			}
			_ = q
			return nil
		})
		errs.check("Batch", err)
		bxQuiet(t, m, dir, 2, "after a re-entrant batch")
	}
	errs.report(t)
	if err := m.Close(); err != nil {
		t.Error(err)
	}
	m = nil
	bxWaitGone(t, dir, 1<<30)
}
