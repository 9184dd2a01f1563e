package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

func TestLifecycle_PinAcrossCloseAndEvictions(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	rng := rand.New(rand.NewPCG(seed, 1))
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 2 * cs})
	data := make([]byte, 8*cs)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	var pins []*chunkmap.Pinned
	var offs []int64
	for i := 0; i < 6; i++ {
		off := rng.Int64N(6 * cs)
		n := rng.IntN(2*cs) + 1
		p, err := m.Pin(off, n)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
		offs = append(offs, off)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		r := rand.New(rand.NewPCG(seed, uint64(g+10)))
		advGo(t, &wg, "reader", func() {
			buf := make([]byte, 100)
			for i := 0; i < 2000; i++ {
				off := r.Int64N(int64(len(data) - 100))
				if _, err := m.ReadAt(buf, off); err != nil {
					if errors.Is(err, chunkmap.ErrClosed) {
						return
					}
					t.Errorf("read: %v", err)
					return
				}
				if !bytes.Equal(buf, data[off:off+100]) {
					t.Errorf("read %d differs", off)
					return
				}
			}
		})
	}
	for i, p := range pins {
		if !bytes.Equal(p.Bytes(), data[offs[i]:offs[i]+int64(len(p.Bytes()))]) {
			t.Errorf("pin %d differs", i)
		}
	}
	advWait(t, &wg, time.Minute, "readers")
	err := m.Close()
	t.Logf("Close with pins: %v", err)
	for i, p := range pins {
		if !bytes.Equal(p.Bytes(), data[offs[i]:offs[i]+int64(len(p.Bytes()))]) {
			t.Errorf("pin %d differs after Close", i)
		}
	}
	var rwg sync.WaitGroup
	for _, p := range pins {
		advGo(t, &rwg, "release", func() { p.Release() })
		advGo(t, &rwg, "release", func() { p.Release() })
	}
	advWait(t, &rwg, time.Minute, "release")
	st := m.Stats()
	t.Logf("after: %+v", st)
	if st.Pinned != 0 || st.Mapped != 0 {
		t.Errorf("after Close and Release: %+v", st)
	}
	// Reopen works (lock released).
	m2 := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
	m2.Close()
}

func TestLifecycle_FollowerScanWhileWriterRegrows(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	w := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs})
	defer w.Close()
	pat := func(off int64) byte { return byte(off*131 + off>>16 + 1) }
	buf := make([]byte, 6*cs)
	for i := range buf {
		buf[i] = pat(int64(i))
	}
	if _, err := w.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	f := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true, MaxMapped: 1, ArenaSize: 2 * cs})
	defer f.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(seed, 2))
	wrng := rand.New(rand.NewPCG(seed, 3))
	advGo(t, &wg, "writer", func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ns := wrng.Int64N(6 * cs)
			if err := w.Truncate(ns); err != nil {
				t.Errorf("truncate: %v", err)
				return
			}
			if _, err := w.WriteAt(buf[ns:], ns); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
	})
	deadline := time.Now().Add(stormFor(3 * time.Second))
	for time.Now().Before(deadline) {
		err := f.Batch(func(b *chunkmap.Batch) error {
			off := rng.Int64N(6 * cs)
			n := rng.IntN(int(6*cs-off)) + 0
			p, err := b.Bytes(off, n)
			if err != nil {
				if errors.Is(err, chunkmap.ErrOutOfRange) {
					return nil
				}
				return err
			}
			for i, c := range p {
				if c != pat(off+int64(i)) && c != 0 {
					t.Errorf("follower byte at %d: %d", off+int64(i), c)
					return errors.New("bad")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.Pin(rng.Int64N(3*cs), cs+5)
		if err == nil {
			p.Release()
		} else if !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Fatal(err)
		}
		if _, err := f.LoadUint64(rng.Int64N(6*cs) &^ 7); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Fatal(err)
		}
	}
	close(stop)
	advWait(t, &wg, time.Minute, "writer")
	if st := f.Stats(); st.Pinned != 0 || st.Mapped > 1 {
		t.Errorf("follower: %+v", st)
	}
}
