package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// pairFS makes the first write to a chunk file wait, for up to a minute,
// until a write to another chunk file is in flight at the same time, and
// records the most writes it saw in flight at once.
type pairFS struct {
	inFlight, most atomic.Int32
	paired         chan struct{} // closed once two writes were in flight
	once           sync.Once
	waited         atomic.Bool // the first write waited out the minute
	first          atomic.Bool
}

// onWrite is pairFS's hook for writeHookFS.
func (p *pairFS) onWrite() func() {
	n := p.inFlight.Add(1)
	for {
		m := p.most.Load()
		if n <= m || p.most.CompareAndSwap(m, n) {
			break
		}
	}
	if n >= 2 {
		p.once.Do(func() { close(p.paired) })
	}
	if p.first.CompareAndSwap(false, true) {
		select {
		case <-p.paired:
		case <-time.After(time.Minute):
			p.waited.Store(true)
		}
	}
	return func() { p.inFlight.Add(-1) }
}

// TestSpreadWriteUsesTwoGoroutines checks that a growth write across many
// small chunks writes two chunk files at once (its first write waits for a
// second one, which a write on one goroutine never makes), and that every
// byte reads back, before and after a reopen, for an Append and a WriteAt
// past Size, aligned to a chunk or not.
func TestSpreadWriteUsesTwoGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		append bool
		off    int64 // for WriteAt
		n      int
	}{
		{"Append of 16 chunks", true, 0, 16 * aheadChunk},
		{"Append of 5 chunks and a bit", true, 0, 5*aheadChunk + 77},
		{"WriteAt past Size, unaligned, 40 chunks", false, 3*aheadChunk + 1000, 40*aheadChunk + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := &pairFS{paired: make(chan struct{})}
			m, dir := openOnFS(t, writeHookFS{vfs.OS, fsys.onWrite})
			head := pattern(9, 100)
			if _, err := m.Append(head); err != nil {
				t.Fatal(err)
			}
			fsys.first.Store(false)
			p := pattern(10, tc.n)
			want := head
			if tc.append {
				if off, err := m.Append(p); err != nil || off != int64(len(head)) {
					t.Fatalf("Append: %d, %v", off, err)
				}
				want = append(want, p...)
			} else {
				if n, err := m.WriteAt(p, tc.off); err != nil || n != len(p) {
					t.Fatalf("WriteAt: %d, %v", n, err)
				}
				want = append(want, make([]byte, tc.off-int64(len(head)))...)
				want = append(want, p...)
			}
			if fsys.waited.Load() || fsys.most.Load() < 2 {
				t.Errorf("at most %d chunk writes were in flight at once, want 2", fsys.most.Load())
			}
			if got := readAll(t, m); !bytes.Equal(got, want) {
				t.Fatalf("offset %d differs from what was written", firstDiff(got, want))
			}
			wantDatasetFiles(t, m, dir, "after the write")
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := readAll(t, m); !bytes.Equal(got, want) {
				t.Fatalf("after a reopen, offset %d differs from what was written", firstDiff(got, want))
			}
		})
	}
}

// TestSpreadWriteFailedPiece fails the write to one chunk file of a spread
// growth write (ENOSPC): a piece of the caller's, one of the writer's, the
// first and the last, and one in a later pass. The write must fail with
// ErrNoSpace, leave Size and the directory as they were (also when pieces
// after the failed one were written), and succeed whole when tried again.
func TestSpreadWriteFailedPiece(t *testing.T) {
	const head = 2*aheadChunk + 10 // the write's first piece is short
	const n = 45 * aheadChunk      // two passes
	for _, fail := range []int64{2, 3, 4, 9, 20, 35, 2 + 45} {
		for _, isAppend := range []bool{true, false} {
			name := fmt.Sprintf("chunk %d, Append %v", fail, isAppend)
			t.Run(name, func(t *testing.T) {
				fsys := vfstest.NewFaulty(nil)
				m, dir := openOnFS(t, fsys)
				data := pattern(3, head)
				if _, err := m.Append(data); err != nil {
					t.Fatal(err)
				}
				r := fsys.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, chunkName(fail)), Err: chunkmap.SpaceErrno})
				p := pattern(4, n)
				write := func() (int, error) {
					if isAppend {
						_, err := m.Append(p)
						return 0, err
					}
					return m.WriteAt(p, head)
				}
				k, err := write()
				if !errors.Is(err, chunkmap.ErrNoSpace) {
					t.Fatalf("write failing at chunk %d: %v, want ErrNoSpace", fail, err)
				}
				if k != 0 {
					t.Errorf("the failed write reports %d bytes written past Size, want 0", k)
				}
				if fsys.Fired(r) == 0 {
					t.Fatal("the failing write was never tried")
				}
				if m.Size() != head {
					t.Fatalf("Size %d after the failed write, want %d", m.Size(), head)
				}
				wantDatasetFiles(t, m, dir, "after the failed write")
				if got := readAll(t, m); !bytes.Equal(got, data) {
					t.Fatalf("offset %d below Size changed", firstDiff(got, data))
				}
				fsys.Disarm(r)
				if _, err := write(); err != nil {
					t.Fatal(err)
				}
				want := append(data, p...)
				if got := readAll(t, m); !bytes.Equal(got, want) {
					t.Fatalf("offset %d differs from what was written", firstDiff(got, want))
				}
				wantDatasetFiles(t, m, dir, "after the write again")
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestSpreadWritePanickingPiece makes the pwrite of one of the caller's
// pieces of a spread growth write panic, recovers the panic, and checks
// what TestSpreadWriteFailedPiece checks of a failed piece: Size, the
// directory and the bytes below Size as they were, and the write whole
// when tried again. Nothing the call raised may stay counted: Close must
// return.
func TestSpreadWritePanickingPiece(t *testing.T) {
	const head = 2*aheadChunk + 10 // piece 0 is chunk 2's tail
	const n = 20 * aheadChunk
	// The caller writes the even pieces: the first, and one after the
	// writer has pieces of its own in flight. The odd ones are the
	// writer's, unless the caller claims them first: a panic on the
	// writer's goroutine must reach the caller, not end the process.
	for _, at := range []int64{2, 3, 4, 7} {
		t.Run(fmt.Sprintf("chunk %d", at), func(t *testing.T) {
			fsys := vfstest.NewFaulty(nil)
			m, dir := openOnFSUnclosed(t, fsys, chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
			data := pattern(3, head)
			if _, err := m.Append(data); err != nil {
				t.Fatal(err)
			}
			r := fsys.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, chunkName(at)), Mode: vfstest.Panic, Times: 1})
			p := pattern(4, n)
			recovered := func() (v any) {
				defer func() { v = recover() }()
				m.Append(p)
				return nil
			}()
			if recovered == nil || fsys.Fired(r) != 1 {
				t.Fatalf("Append through a panicking pwrite of chunk %d: recovered %v, rule fired %d times; want the panic", at, recovered, fsys.Fired(r))
			}
			if m.Size() != head {
				t.Fatalf("Size %d after the panic, want %d", m.Size(), head)
			}
			wantDatasetFiles(t, m, dir, "after the panic")
			if got := readAll(t, m); !bytes.Equal(got, data) {
				t.Fatalf("offset %d below Size changed", firstDiff(got, data))
			}
			if _, err := m.Append(p); err != nil {
				t.Fatal(err)
			}
			want := append(data, p...)
			if got := readAll(t, m); !bytes.Equal(got, want) {
				t.Fatalf("offset %d differs from what was written", firstDiff(got, want))
			}
			nilWithin(t, "Close after the recovered panic", m.Close)
		})
	}
}

// TestSpreadAppendsBesideReaders runs spread Appends on three goroutines
// while two others read what Size covers, checking each byte against the
// Append that wrote it; under -race this checks the staging and the
// hand-over of pieces between the goroutines.
func TestSpreadAppendsBesideReaders(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const writers, rounds = 3, 6
	sizes := []int{5 * aheadChunk, 9*aheadChunk + 3, 33 * aheadChunk, 4*aheadChunk - 1}
	type rec struct {
		off  int64
		seed uint64
		n    int
	}
	var mu sync.Mutex
	var recs []rec
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, writers+2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				seed := uint64(w*100 + i)
				n := sizes[(w+i)%len(sizes)]
				off, err := m.Append(pattern(seed, n))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				recs = append(recs, rec{off, seed, n})
				mu.Unlock()
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 3*aheadChunk)
			for {
				select {
				case <-stop:
					return
				default:
				}
				size := m.Size()
				if size == 0 {
					continue
				}
				off := max(0, size-int64(len(buf)))
				if _, err := m.ReadAt(buf[:size-off], off); err != nil {
					errs <- fmt.Errorf("ReadAt(%d, %d) below Size %d: %w", size-off, off, size, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range recs {
		got := make([]byte, r.n)
		if _, err := m.ReadAt(got, r.off); err != nil {
			t.Fatal(err)
		}
		if want := pattern(r.seed, r.n); !bytes.Equal(got, want) {
			t.Fatalf("the Append at %d (%d bytes): offset %d differs", r.off, r.n, r.off+int64(firstDiff(got, want)))
		}
	}
	wantDatasetFiles(t, m, dir, "after the Appends")
}
