package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestWriteAtAcrossChunksIsWholeAgainstShrinks writes a pattern across
// three chunks inside Size while other goroutines Truncate below it and
// grow back, and DropBefore nothing: each WriteAt either writes all of its
// bytes (n == len(p), nil) or none (n == 0 with ErrOutOfRange or ErrClosed).
func TestWriteAtAcrossChunksIsWholeAgainstShrinks(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, 4*cs), 0); err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte{0xAB}, 3*cs-100)
	small := bytes.Repeat([]byte{0xCD}, 2*cs) // under bulkWrite: through the mappings
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.Truncate(10); err != nil {
				t.Errorf("Truncate: %v", err)
				return
			}
			if err := m.Truncate(4 * cs); err != nil {
				t.Errorf("Truncate up: %v", err)
				return
			}
		}
	})
	deadline := time.Now().Add(stormFor(time.Second))
	for i := 0; time.Now().Before(deadline) && !t.Failed(); i++ {
		q := p
		if i%2 == 1 {
			q = small
		}
		n, err := m.WriteAt(q, 50)
		switch {
		case err == nil && n == len(q):
		case errors.Is(err, chunkmap.ErrOutOfRange) && n == 0:
		default:
			t.Errorf("WriteAt of %d bytes across chunks: n = %d, err = %v", len(q), n, err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestNoDeadlockWritesShrinksBatchesClose runs in-range and extending
// WriteAts (some from inside Batch functions and block scans), Appends,
// Grows, Syncs, Truncates and DropBefores together, then Close, and fails if
// they do not all return in time.
func TestNoDeadlockWritesShrinksBatchesClose(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(make([]byte, 8*cs), 0); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(f func(i int)) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
			}
		})
	}
	buf := make([]byte, 3*cs)
	loop(func(i int) { m.WriteAt(buf[:cs+i%cs], m.Start()+int64(i%5)*cs/2) })
	loop(func(i int) { m.Append(buf[:1+i%(2*cs)]) })
	loop(func(i int) {
		m.Batch(func(b *chunkmap.Batch) error {
			start := m.Start()
			if q, err := b.WritableBytes(start, 16); err == nil {
				q[0]++
			}
			m.WriteAt(buf[:2*cs], start+cs/2) // a write while the batch holds chunks
			if i%50 == 0 {
				m.Sync()
			}
			return nil
		})
	})
	loop(func(i int) {
		// Halve what lies past Start: Size/2 falls below Start once the
		// drops have moved it past there, and such a Truncate is refused.
		start, size := m.Start(), m.Size()
		if size-start > 12*cs {
			m.Truncate(start + (size-start)/2)
		}
		if i%10 == 0 {
			m.DropBefore(m.Start() + cs)
		}
	})
	loop(func(i int) { m.Grow(int64(i%3) * cs) })
	time.Sleep(800 * time.Millisecond)
	close(stop)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		if err := m.Close(); err != nil && !errors.Is(err, chunkmap.ErrBusy) {
			t.Errorf("Close: %v", err)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		var sb strings.Builder
		pprof.Lookup("goroutine").WriteTo(&sb, 2)
		fmt.Fprintln(os.Stderr, sb.String())
		t.Fatal("calls did not return: deadlock")
	}
}
