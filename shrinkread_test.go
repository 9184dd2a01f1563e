package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// A read that checked its range against Size before a Truncate cut the
// range off, and copied after the growth that followed zeroed it (before
// writing it anew), must not return those zeros: it returns bytes from
// before the Truncate, or bytes written after it, or stops at the new Size.
// The dataset holds only words gen<<32 | off/8, so every word read can be
// checked on its own: a word of a generation older than the last one
// complete when the read began, or of the wrong offset, is wrong.

// shrinkWords returns the n bytes from offset off of generation gen.
func shrinkWords(gen uint32, off int64, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(gen)<<32|uint64((off+int64(i))/8))
	}
	return b
}

// TestShrinkRead runs each read path of a writer and of a follower in this
// process against a writer that truncates to just past the first chunk and
// writes the second chunk again, over and over.
func TestShrinkRead(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	type reader func(r *chunkmap.Manager, off int64, b []byte) (int, error)
	readAt := func(r *chunkmap.Manager, off int64, b []byte) (int, error) { return r.ReadAt(b, off) }
	gather := func(r *chunkmap.Manager, off int64, b []byte) (int, error) {
		offs := make([]int64, len(b)/8)
		for i := range offs {
			offs[i] = off + int64(8*i)
		}
		return len(b), r.Gather(b, offs, 8)
	}
	load := func(r *chunkmap.Manager, off int64, b []byte) (int, error) {
		x, err := r.LoadUint64(off)
		binary.LittleEndian.PutUint64(b, x)
		return 8, err
	}
	cases := []struct {
		name     string
		opts     chunkmap.Options
		off, n   int64
		read     reader
		follower bool
	}{
		// One chunk, one copy (hotRead1); across the boundary (hotReadSpan).
		{"readat", chunkmap.Options{NoAdmission: true}, cs + cs/2, cs / 2, readAt, false},
		{"readat-span", chunkmap.Options{NoAdmission: true}, cs - cs/4, cs / 2, readAt, false},
		// Chunk 1 turned away by admission with one chunk mapped: pread.
		{"readat-pread", chunkmap.Options{MaxMapped: 1}, cs + cs/2, cs / 2, readAt, false},
		{"gather", chunkmap.Options{NoAdmission: true}, cs + cs/2, cs / 4, gather, false},
		{"load", chunkmap.Options{NoAdmission: true}, cs + cs/2, 8, load, false},
		{"follower-readat", chunkmap.Options{NoAdmission: true}, cs + cs/2, cs / 2, readAt, true},
		{"follower-gather", chunkmap.Options{NoAdmission: true}, cs + cs/2, cs / 4, gather, true},
		{"follower-load", chunkmap.Options{NoAdmission: true}, cs + cs/2, 8, load, true},
	}
	gens := uint32(10000)
	if testing.Short() || raceEnabled {
		gens = 300
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: tc.opts.NoAdmission})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.WriteAt(shrinkWords(1, 0, 2*cs), 0); err != nil {
				t.Fatal(err)
			}
			r := w
			if tc.follower {
				o := tc.opts
				o.ReadOnly = true
				if r, err = chunkmap.Open(dir, &o); err != nil {
					t.Fatal(err)
				}
				defer r.Close()
			} else if tc.opts.MaxMapped != 0 {
				// The reader is the writer here: reopen it with the
				// case's bound.
				w.Close()
				o := tc.opts
				o.ChunkSize = cs
				if w, err = chunkmap.Open(dir, &o); err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				r = w
			}
			var complete atomic.Uint32 // the last generation whole in the dataset
			complete.Store(1)
			var stop atomic.Bool
			var reads, bad atomic.Int64
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					b := make([]byte, tc.n)
					for i := 1; !stop.Load(); i++ {
						// The writer yields every few generations; a
						// reader that never yields runs until the
						// scheduler preempts it, 10 ms later, so that
						// with one P the test ran for minutes.
						if i%64 == 0 {
							runtime.Gosched()
						}
						if tc.name == "readat-pread" {
							// Keep chunk 0 the mapped one.
							if _, err := r.ReadAt(b[:8], 0); err != nil {
								t.Error(err)
								return
							}
						}
						g0 := complete.Load()
						n, err := tc.read(r, tc.off, b)
						switch {
						case err == io.EOF, errors.Is(err, chunkmap.ErrOutOfRange):
							// Overtaken by the Truncate: n bytes from before it.
						case err != nil:
							t.Errorf("%s at %d: %v", tc.name, tc.off, err)
							return
						}
						if err != nil && !errors.Is(err, io.EOF) {
							n = 0
						}
						reads.Add(1)
						for i := 0; i+8 <= n; i += 8 {
							x := binary.LittleEndian.Uint64(b[i:])
							at := tc.off + int64(i)
							if x&0xffffffff != uint64(at/8) || (at >= cs && uint32(x>>32) < g0) {
								if bad.Add(1) <= 3 {
									t.Errorf("%s at %d (n %d, err %v): word at %d is %#x, want generation >= %d of offset %d",
										tc.name, tc.off, n, err, at, x, g0, at)
								}
								break
							}
						}
					}
				})
			}
			for gen := uint32(2); gen <= gens && !t.Failed(); gen++ {
				if gen%8 == 0 {
					runtime.Gosched()
				}
				if err := w.Truncate(cs + 16); err != nil {
					t.Fatal(err)
				}
				// The bytes cut off are zeroed by this growth, then written.
				if _, err := w.WriteAt(shrinkWords(gen, cs, cs), cs); err != nil {
					t.Fatal(err)
				}
				complete.Store(gen)
			}
			stop.Store(true)
			wg.Wait()
			t.Logf("%d reads, %d wrong", reads.Load(), bad.Load())
		})
	}
}

// TestFollowerReadBesideCuts checks that a following reader's long reads of
// bytes the writer never cuts succeed, and read right, while the writer
// cuts and regrows the end of the dataset as fast as it can: the epoch
// moves under nearly every read, and the cuts the state page records show
// that none reached the bytes read.
func TestFollowerReadBesideCuts(t *testing.T) {
	dir := t.TempDir()
	w := openTestManager(t, dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	data := shrinkWords(1, 0, 16<<20)
	if _, err := w.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	// Not openTestManager: a follower's Size is as of its last read.
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stop atomic.Bool
	var cuts atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		tail := shrinkWords(1, int64(len(data))-16, 16)
		for !stop.Load() {
			if err := w.Truncate(int64(len(data)) - 16); err != nil {
				t.Error(err)
				return
			}
			if _, err := w.Append(tail); err != nil {
				t.Error(err)
				return
			}
			cuts.Add(1)
		}
	})
	p := make([]byte, 8<<20) // [0, 8 MiB): never cut
	reads := 100
	if raceEnabled {
		reads = 20
	}
	for i := range reads {
		n, err := r.ReadAt(p, 0)
		if err != nil || n != len(p) {
			t.Errorf("read %d of [0, %d) beside %d cuts at %d: n %d, %v", i, len(p), cuts.Load(), len(data)-16, n, err)
			break
		}
		if !bytes.Equal(p, data[:len(p)]) {
			t.Errorf("read %d of [0, %d): wrong bytes at %d", i, len(p), firstDiff(p, data))
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads beside %d cuts", reads, cuts.Load())
}

// TestReadOnlyOpenBesideCuts checks that a ReadOnly Open beside a writer
// that cuts the last chunks away and grows them again as fast as it can
// succeeds: the chunk files it finds missing, or new and still empty, are
// the writer's doing, and reading the dataset again settles it.
func TestReadOnlyOpenBesideCuts(t *testing.T) {
	dir := t.TempDir()
	const cs = chunkmap.MinChunkSize
	const size = 64 * cs
	w := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	if _, err := w.Append(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := int64(0); !stop.Load(); i++ {
			if err := w.Truncate(size - cs*(1+i%4) - 8*(i%1000)); err != nil {
				t.Error(err)
				return
			}
			if _, err := w.Append(make([]byte, size-w.Size())); err != nil {
				t.Error(err)
				return
			}
		}
	})
	opens, failed := 0, 0
	for start := time.Now(); time.Since(start) < stormFor(2*time.Second); opens++ {
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			if failed++; failed <= 3 {
				t.Errorf("ReadOnly Open %d beside the writer's cuts: %v", opens, err)
			}
			continue
		}
		r.Close()
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d ReadOnly Opens, %d failed", opens, failed)
}
