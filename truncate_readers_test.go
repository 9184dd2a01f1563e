package chunkmap_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestTruncateKeepsBytesBelowForReaders has readers read ranges that start
// below a floor L while another goroutine truncates the dataset back and
// forth above L (also to sizes that are not chunk-aligned), grows it,
// drops nothing and rewrites [0, L) with the same bytes: every read must
// return at least the bytes up to L, equal to what was written, with a nil
// error where it filled p and io.EOF only where it stopped short, as
// os.File's ReadAt does beside a truncate that never cuts below L.
func TestTruncateKeepsBytesBelowForReaders(t *testing.T) {
	seed := testSeed(t, "TRUNCREAD_SEED")
	const cs = clxChunk
	for _, mm := range []int{1, 2} {
		t.Run(fmt.Sprint("maxmapped", mm), func(t *testing.T) {
			m := clxOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: mm, NoAdmission: mm == 1})
			defer m.Close()
			const L = 3*cs + 1234
			pat := make([]byte, L)
			for i := range pat {
				pat[i] = byte(i*31+i>>9) | 1
			}
			if _, err := m.WriteAt(pat, 0); err != nil {
				t.Fatal(err)
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			errc := make(chan error, 8)
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(seed, uint64(g)))
					for !stop.Load() {
						off := rng.Int64N(L)
						n := 1 + rng.IntN(3*cs)
						p := make([]byte, n)
						k, err := m.ReadAt(p, off)
						need := int(min(int64(n), L-off))
						switch {
						case k < need:
							errc <- fmt.Errorf("ReadAt(%d, %d) = %d, %v: fewer than the %d bytes below %d", n, off, k, err, need, L)
							return
						case k < n && err != io.EOF:
							errc <- fmt.Errorf("ReadAt(%d, %d) = %d, %v: short without io.EOF", n, off, k, err)
							return
						case k == n && err != nil:
							errc <- fmt.Errorf("ReadAt(%d, %d) = %d, %v: full with an error", n, off, k, err)
							return
						case !bytes.Equal(p[:need], pat[off:off+int64(need)]):
							errc <- fmt.Errorf("ReadAt(%d, %d): bytes below %d differ", n, off, L)
							return
						}
					}
				}()
			}
			rng := rand.New(rand.NewPCG(seed, 99))
			deadline := time.Now().Add(700 * time.Millisecond)
			for time.Now().Before(deadline) && len(errc) == 0 {
				var err error
				switch rng.IntN(5) {
				case 0, 1:
					err = m.Truncate(L + rng.Int64N(3*cs))
				case 2:
					_, err = m.WriteAt(pat[:rng.IntN(L)], 0)
				case 3:
					_, err = m.Append(bytes.Repeat([]byte{0xee}, rng.IntN(2*cs)))
				default:
					err = m.Grow(rng.Int64N(2 * cs))
				}
				if err != nil {
					t.Error(err)
					break
				}
			}
			stop.Store(true)
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
		})
	}
}
