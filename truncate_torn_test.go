package chunkmap_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// tornByte is the byte the cycle of round r leaves at offset o past the
// cut: never zero, and never the same in two rounds in a row.
func tornByte(o int64, r int64) byte {
	return byte((o*7+r*13)%251) + 1
}

// TestTruncateRegrowNeverTearsReads truncates a dataset into its fourth
// chunk and grows it back, round after round, and writes the bytes past the
// cut anew in each round, while a reader reads ranges across the chunk
// boundaries past the cut (ReadAt, and Gather of values on both sides of
// each boundary). A read that a Truncate overtakes must return the bytes
// from before it, or be made again after it: never the bytes a round wrote
// before the cut beside the zeros of the growth after it, or beside the
// next round's bytes. Reads that miss (MaxMapped 1, with admission and
// without, and an arena of two slots) take the locked paths, where each
// chunk of a read was checked on its own. A following reader reads the same
// ranges, in pieces (it reads 256 KiB at a time).
func TestTruncateRegrowNeverTearsReads(t *testing.T) {
	seed := testSeed(t, "TORN_SEED")
	const cs = clxChunk
	const cut, top = 3*cs + 1000, 12*cs + 333
	run := time.Second
	if testing.Short() {
		run = 300 * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		opts   chunkmap.Options
		follow bool
		gather bool
	}{
		{"readat/admission", chunkmap.Options{ChunkSize: cs, MaxMapped: 1}, false, false},
		{"readat/noadmission", chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true, ArenaSize: 2 * cs}, false, false},
		{"readat/mapped", chunkmap.Options{ChunkSize: cs, MaxMapped: 32}, false, false},
		{"gather/admission", chunkmap.Options{ChunkSize: cs, MaxMapped: 1}, false, true},
		{"gather/noadmission", chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true, ArenaSize: 2 * cs}, false, true},
		{"readat/follower", chunkmap.Options{ChunkSize: cs, MaxMapped: 1}, true, false},
		{"gather/follower", chunkmap.Options{ChunkSize: cs, MaxMapped: 1}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := tc.opts
			m := clxOpen(t, dir, &opts)
			defer m.Close()
			reader := m
			if tc.follow {
				ro := tc.opts
				ro.ReadOnly = true
				reader = clxOpen(t, dir, &ro)
				defer reader.Close()
			}
			round := func(r int64) []byte {
				b := make([]byte, top-cut)
				for i := range b {
					b[i] = tornByte(cut+int64(i), r)
				}
				return b
			}
			if _, err := m.WriteAt(make([]byte, cut), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(round(0), cut); err != nil {
				t.Fatal(err)
			}
			// phase is 4*round + step: step 0 while the round's bytes
			// stand, 1 from just before the cut, 2 once the cut returned,
			// 3 once the growth returned.
			var phase atomic.Int64
			var stop atomic.Bool
			var checked, refused, reads atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, 2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				for r := int64(0); !stop.Load(); r++ {
					next := round(r + 1)
					phase.Store(4*r + 1)
					if err := m.Truncate(cut); err != nil {
						errc <- err
						return
					}
					phase.Store(4*r + 2)
					if err := m.Truncate(top); err != nil {
						errc <- err
						return
					}
					phase.Store(4*r + 3)
					if _, err := m.WriteAt(next, cut); err != nil {
						errc <- err
						return
					}
					phase.Store(4 * (r + 1))
					// The round's bytes stand until two more reads
					// ended, so that one ran whole in this step: a read
					// overtaken by every cut is made again after it,
					// mostly while Size is at the cut, where a Gather's
					// values lie past Size and it is refused, and a slow
					// one (a Gather that remaps a chunk per value, under
					// the race detector on a busy machine) would be
					// checked never. No time limit: a bound of 50 ms
					// let a loaded CI run check no read at all. The
					// reader ends a read on every pass, refused or not,
					// so the wait ends.
					ended := reads.Load()
					for reads.Load() < ended+2 && !stop.Load() {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}()
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, 7))
				for ; !stop.Load(); reads.Add(1) {
					ph := phase.Load()
					r, step := ph/4, ph%4
					var offs []int64
					var got []byte
					if tc.gather {
						// 640 values: three blocks of Gather's 256.
						for range 40 {
							for b := int64(4); b <= 11; b++ {
								offs = append(offs, b*cs-8-rng.Int64N(64), b*cs+rng.Int64N(64))
							}
						}
						rng.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
						got = make([]byte, 8*len(offs))
						if err := reader.Gather(got, offs, 8); err != nil {
							if !errors.Is(err, chunkmap.ErrOutOfRange) {
								errc <- err
								return
							}
							refused.Add(1)
							continue
						}
					} else {
						off := cut + rng.Int64N(top-cut)
						got = make([]byte, 1+rng.IntN(top-cut))
						n, err := reader.ReadAt(got, off)
						if err != nil && err != io.EOF && !errors.Is(err, chunkmap.ErrOutOfRange) {
							errc <- err
							return
						}
						got = got[:n]
						for i := range got {
							offs = append(offs, off+int64(i))
						}
					}
					checked.Add(1)
					if d := tornRead(got, offs, tc.gather, r, step); d != "" {
						errc <- fmt.Errorf("a read begun in round %d, step %d: %s", r, step, d)
						return
					}
				}
			}()
			select {
			case err := <-errc:
				stop.Store(true)
				wg.Wait()
				t.Fatal(err)
			case <-time.After(run):
			}
			stop.Store(true)
			wg.Wait()
			select {
			case err := <-errc:
				t.Fatal(err)
			default:
			}
			t.Logf("%d rounds, %d reads checked, %d refused", phase.Load()/4, checked.Load(), refused.Load())
			if checked.Load() == 0 {
				t.Fatal("no read was checked")
			}
		})
	}
}

// tornRead says what is wrong with got, the bytes a read begun in round r
// at step step returned (at offsets offs: one a byte, or one a value of 8
// bytes for a gather), or "" if nothing: the round's own bytes past the cut
// (read before the cut) beside zeros or the next round's bytes (written
// after it), or the round's own bytes from a read begun after the cut
// returned.
func tornRead(got []byte, offs []int64, gather bool, r, step int64) string {
	old, later := int64(-1), int64(-1)
	for i := range got {
		var o int64
		if gather {
			o = offs[i/8] + int64(i%8)
		} else {
			o = offs[i]
		}
		switch b := got[i]; {
		case b == tornByte(o, r):
			old = o
		case b == 0 || b == tornByte(o, r+1):
			later = o
		}
	}
	switch {
	case old >= 0 && later >= 0 && step < 2:
		return fmt.Sprintf("the bytes from before the cut at %d beside bytes from after it at %d", old, later)
	case old >= 0 && step >= 2:
		return fmt.Sprintf("the bytes from before the cut at %d, read after the cut returned", old)
	}
	return ""
}

// TestFollowerReadStopsAtCutBetweenPieces has a writer cut its dataset and
// grow it back, with new bytes, while a following reader's ReadAt of two
// pieces (it reads 256 KiB at a time) is between them: the first piece read
// the bytes from before the cut, the second would read those after it. The
// read must keep only the bytes below the cut, with io.EOF, and a read made
// after it must see the new bytes.
func TestFollowerReadStopsAtCutBetweenPieces(t *testing.T) {
	const cs = clxChunk
	const cut, top = 3*cs + 1000, 12*cs + 333
	dir := t.TempDir()
	w := clxOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
	defer w.Close()
	r := clxOpen(t, dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true, MaxMapped: 1, NoAdmission: true})
	defer r.Close()
	below := make([]byte, cut)
	for i := range below {
		below[i] = tornByte(int64(i), 100)
	}
	round := func(n int64) []byte {
		b := make([]byte, top-cut)
		for i := range b {
			b[i] = tornByte(cut+int64(i), n)
		}
		return b
	}
	if _, err := w.WriteAt(below, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(round(0), cut); err != nil {
		t.Fatal(err)
	}
	// Each chunk the reader reaches is a miss that maps it in place of the
	// one before (MaxMapped 1, no admission), so its fifth locked read is
	// the first chunk of the second piece.
	var calls int
	chunkmap.SetReadSlowHook(func() {
		if calls++; calls != 5 {
			return
		}
		if err := w.Truncate(cut); err != nil {
			t.Error(err)
		}
		if err := w.Truncate(top); err != nil {
			t.Error(err)
		}
		if _, err := w.WriteAt(round(1), cut); err != nil {
			t.Error(err)
		}
	})
	defer chunkmap.SetReadSlowHook(nil)
	const off = 2 * cs
	p := make([]byte, 8*cs)
	n, err := r.ReadAt(p, off)
	chunkmap.SetReadSlowHook(nil)
	if calls < 5 {
		t.Fatalf("the reader made %d locked reads, so the cut did not fall between its pieces", calls)
	}
	if n != cut-off || err != io.EOF {
		t.Errorf("ReadAt(%d bytes at %d) across a cut to %d between its pieces = %d, %v; want %d, io.EOF", len(p), off, cut, n, err, cut-off)
	}
	for i := range min(n, len(p)) {
		o := off + int64(i)
		want := tornByte(o, 100)
		if o >= cut {
			want = tornByte(o, 0)
		}
		if p[i] != want {
			t.Fatalf("byte %d = %#x, want %#x", o, p[i], want)
		}
	}
	// Made again, the read sees the growth and the new bytes.
	n, err = r.ReadAt(p, off)
	if n != len(p) || err != nil {
		t.Fatalf("ReadAt again = %d, %v", n, err)
	}
	for i := range p {
		o := off + int64(i)
		want := tornByte(o, 100)
		if o >= cut {
			want = tornByte(o, 1)
		}
		if p[i] != want {
			t.Fatalf("read again: byte %d = %#x, want %#x", o, p[i], want)
		}
	}
}
