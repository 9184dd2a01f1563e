package clients

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

// TestReadRacingTruncate: the dataset never holds a zero byte (it grows
// only by writes at Size of non-zero bytes, and shrinks by Truncate), so a
// ReadAt, on the writer's Manager or on a following ReadOnly one, must
// never return a zero byte among the n it reports, whatever Truncate and
// regrowth run meanwhile (Manager.Truncate's doc: a read a Truncate
// overtakes returns bytes from before it, never the zeros of a later
// growth).
func TestReadRacingTruncate(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	w := openCM(t, dir, chunkmap.Options{ChunkSize: cs, MaxMapped: 3})
	defer w.Close()
	ro := openCM(t, dir, chunkmap.Options{ReadOnly: true, MaxMapped: 3})
	defer ro.Close()
	fill := func(n int, v byte) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = v
		}
		return p
	}
	if _, err := w.WriteAt(fill(6*cs, 1), 0); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var reads [3]atomic.Int64
	for i, m := range []*chunkmap.Manager{w, w, ro} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			p := make([]byte, 3*cs)
			for !stop.Load() {
				off := rng.Int64N(8 * cs)
				q := p[:1+rng.IntN(len(p)-1)]
				n, err := m.ReadAt(q, off)
				reads[i].Add(1)
				if err != nil && err != io.EOF {
					if i == 2 && (errors.Is(err, chunkmap.ErrOutOfRange) || errors.Is(err, chunkmap.ErrFault)) {
						continue // allowed for a follower racing a shrink
					}
					errs <- fmt.Errorf("reader %d: ReadAt(len %d, off %d): n=%d %v", i, len(q), off, n, err)
					return
				}
				if err == nil && n != len(q) {
					errs <- fmt.Errorf("reader %d: ReadAt(len %d, off %d): n=%d, nil error", i, len(q), off, n)
					return
				}
				for j, b := range q[:n] {
					if b == 0 {
						errs <- fmt.Errorf("reader %d: ReadAt(len %d, off %d) = %d, %v: zero byte at offset %d", i, len(q), off, n, err, off+int64(j))
						return
					}
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(77, 77))
	// 3000 steps, or 3 seconds on a busy machine (the readers spin).
	deadline := time.Now().Add(3 * time.Second)
	for step := 0; step < 3000 && time.Now().Before(deadline); step++ {
		size := w.Size()
		if rng.IntN(2) == 0 {
			to := rng.Int64N(size + 1)
			if err := w.Truncate(to); err != nil {
				t.Fatal(err)
			}
		} else if size < 8*cs {
			n := 1 + rng.IntN(int(min(3*cs, 8*cs-size)))
			if _, err := w.WriteAt(fill(n, byte(2+step%250)), size); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("reads: %d %d %d", reads[0].Load(), reads[1].Load(), reads[2].Load())
}
