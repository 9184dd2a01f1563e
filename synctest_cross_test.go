package chunkmap_test

// More of a Manager's life across testing/synctest bubbles (see
// synctest_test.go): a following reader and its writer on either side of a
// bubble's edge, Scratch and Remove in a bubble, bubbles run in parallel
// on one Manager, a Manager that outlives the bubble that opened it, and
// holders that sleep on a bubble's clock while others shrink, sync and
// close. None found a bug; each fails (a panic, a fatal error, a hang the
// watchdog reports, or synctest's report of a goroutine left behind) if a
// path it runs waits on a channel, timer, WaitGroup or sync.Cond that a
// goroutine on the other side of the edge ends, starts a goroutine that
// outlives the call, or waits for a holder.

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// followRounds reads through a following reader whatever its writer does
// meanwhile; a read the writer's shrinks overtake may fail with
// ErrOutOfRange or io.EOF, and nothing else.
func followRounds(t *testing.T, r *chunkmap.Manager, rounds int) {
	t.Helper()
	for range rounds {
		if err := r.Refresh(); err != nil {
			t.Errorf("Refresh: %v", err)
			return
		}
		start, size := r.Start(), r.Size()
		if size-start < 16 {
			continue
		}
		p := make([]byte, 16)
		if _, err := r.ReadAt(p, size-16); err != nil && err != io.EOF && !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadAt: %v", err)
		}
		if pin, err := r.Pin(start, 8); err == nil {
			pin.Release()
		} else if !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Pin: %v", err)
		}
		if err := r.Batch(func(b *chunkmap.Batch) error {
			_, err := b.Bytes(start, 8)
			return err
		}); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Batch: %v", err)
		}
	}
}

// writeRounds appends to w, cutting it at both ends and syncing in turn.
func writeRounds(t *testing.T, w *chunkmap.Manager, rounds int) {
	t.Helper()
	for i := range rounds {
		if _, err := w.Append(pattern(uint64(i), 3*cs)); err != nil {
			t.Errorf("Append: %v", err)
			return
		}
		var err error
		switch i % 4 {
		case 1:
			err = w.Truncate(w.Size() - cs)
		case 2:
			err = w.DropBefore(w.Start() + cs)
		case 3:
			err = w.Sync()
		}
		if err != nil {
			t.Errorf("round %d: %v", i, err)
		}
	}
}

// TestSynctest_FollowerAcrossABubble runs a following reader (Open,
// Refresh, ReadAt, Pin, Batch, Close) inside a bubble while its writer
// appends, truncates and drops outside it, and the other way round.
func TestSynctest_FollowerAcrossABubble(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	for _, readerInside := range []bool{true, false} {
		dir := t.TempDir()
		w := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
		writeAt(t, w, pattern(1, 4*cs), 0)
		follow := func(t *testing.T) {
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
			if err != nil {
				t.Error(err)
				return
			}
			followRounds(t, r, 150)
			if err := r.Close(); err != nil {
				t.Errorf("follower's Close: %v", err)
			}
		}
		var outside sync.WaitGroup
		if readerInside {
			outside.Go(func() { writeRounds(t, w, 30) })
			synctest.Test(t, follow)
		} else {
			outside.Go(func() { follow(t) })
			synctest.Test(t, func(t *testing.T) { writeRounds(t, w, 30) })
		}
		outside.Wait()
		if t.Failed() {
			t.Fatalf("reader inside the bubble: %v", readerInside)
		}
	}
}

// TestSynctest_ScratchAndRemoveInABubble runs a Scratch Manager's life,
// and a dataset's up to its Remove, inside a bubble.
func TestSynctest_ScratchAndRemoveInABubble(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	synctest.Test(t, func(t *testing.T) {
		s, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Scratch: true})
		if err != nil {
			t.Fatal(err)
		}
		p := pattern(3, 40*cs) // made ahead and spread
		off, err := s.Append(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAt(t, s, off, len(p)); !bytes.Equal(got, p) {
			t.Fatalf("scratch: the bytes read back differ from byte %d on", firstDiff(got, p))
		}
		if err := s.Truncate(cs); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir() + "/ds"
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Append(p); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := chunkmap.Remove(dir); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSynctest_ParallelBubblesShareAManager appends, reads, batches and
// syncs on one Manager, opened outside them, from bubbles that run at once.
func TestSynctest_ParallelBubblesShareAManager(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 3})
	t.Run("group", func(t *testing.T) {
		for g := range 3 {
			t.Run("", func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					for i := range 8 {
						n := 100
						if i%4 == 0 {
							n = 20 * cs // made ahead and spread
						}
						p := pattern(uint64(g<<8+i), n)
						off, err := m.Append(p)
						if err != nil {
							t.Fatal(err)
						}
						if got := readAt(t, m, off, n); !bytes.Equal(got, p) {
							t.Fatalf("the %d bytes appended at %d read back differently from byte %d on", n, off, firstDiff(got, p))
						}
						if err := m.Batch(func(b *chunkmap.Batch) error {
							time.Sleep(time.Millisecond) // the bubble's clock
							_, err := b.Bytes(off, 8)
							return err
						}); err != nil {
							t.Fatal(err)
						}
						if i%3 == 0 {
							if err := m.Sync(); err != nil {
								t.Fatal(err)
							}
						}
					}
				})
			})
		}
	})
}

// TestSynctest_ManagerOutlivesItsBubble opens a Manager in a bubble and
// goes on using it after the bubble ended, outside and in another bubble
// at once: nothing Open or a growth made may belong to the first bubble.
func TestSynctest_ManagerOutlivesItsBubble(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	// The outer test's directory: the bubble's t removes its own when
	// the bubble ends.
	dir := t.TempDir()
	var m *chunkmap.Manager
	synctest.Test(t, func(t *testing.T) {
		var err error
		if m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Append(pattern(1, 20*cs)); err != nil {
			t.Fatal(err)
		}
	})
	if m == nil {
		return
	}
	var outside sync.WaitGroup
	outside.Go(func() {
		for i := range 4 {
			if _, err := m.Append(pattern(uint64(100+i), 20*cs+i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		for i := range 4 {
			if _, err := m.Append(pattern(uint64(200+i), 20*cs)); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	})
	outside.Wait()
	if err := m.Truncate(m.Size() - cs); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSynctest_HoldersSleepOnTheBubblesClock holds chunks with a writable
// pin and a Batch (readable and writable holds) that sleeps on the bubble's
// clock while the bubble's other goroutines append, sync, truncate and
// drop the held chunks, and close the Manager. A bubble's clock moves only
// while all its goroutines are durably blocked: a call that waited for the
// holders, even by yielding or on a mutex, would stop it for good, and
// the Batch would never wake.
func TestSynctest_HoldersSleepOnTheBubblesClock(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	synctest.Test(t, func(t *testing.T) {
		m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Append(pattern(1, 8*cs)); err != nil {
			t.Fatal(err)
		}
		pin, err := m.PinWritable(3*cs-4, 8) // chunks 2 and 3
		if err != nil {
			t.Fatal(err)
		}
		entered, cut := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			err := m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(cs-4, 8) // chunks 0 and 1
				if err != nil {
					return err
				}
				if err := b.Hold(4*cs, 2*cs); err != nil {
					return err
				}
				close(entered)
				<-cut
				p[0] = 1
				time.Sleep(time.Second)
				p[1] = 2
				_, err = b.Bytes(7*cs, 8) // truncated away meanwhile
				return err
			})
			if !errors.Is(err, chunkmap.ErrOutOfRange) && !errors.Is(err, chunkmap.ErrClosed) {
				t.Errorf("Batch: %v, want an error matching ErrOutOfRange or ErrClosed", err)
			}
		})
		<-entered
		for i := range 3 {
			wg.Go(func() {
				if _, err := m.Append(pattern(uint64(10+i), 30*cs)); err != nil {
					t.Errorf("Append: %v", err)
				}
				if err := m.Sync(); err != nil && !errors.Is(err, chunkmap.ErrClosed) {
					t.Errorf("Sync: %v", err)
				}
			})
		}
		wg.Go(func() {
			time.Sleep(time.Millisecond)
			if err := m.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
			}
			if err := m.Truncate(3 * cs); err != nil {
				t.Errorf("Truncate: %v", err)
			}
			if err := m.DropBefore(2 * cs); err != nil {
				t.Errorf("DropBefore: %v", err)
			}
			close(cut)
			time.Sleep(time.Millisecond)
			pin.Release()
		})
		wg.Go(func() {
			time.Sleep(500 * time.Millisecond) // the Batch sleeps on
			if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) {
				t.Errorf("Close with a Batch open: %v, want an error matching ErrBusy", err)
			}
		})
		wg.Wait()
	})
}
