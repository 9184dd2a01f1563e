package chunkmap_test

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestSmallWrites_ConcurrentSyncDurable runs small writes (sent with
// pwrite after a Sync, or stored through the mappings), atomics, reads,
// pins and evictions on many goroutines while another Syncs, through a
// Recorder, and checks every Sync that returned against the image a power
// loss right after it leaves: each word written by a write that returned
// before the Sync was called holds that write's value or a later one.
// Goroutines own 4 KiB stripes offset by 2 KiB (so that stripes straddle
// chunk boundaries and two owners share each page); each word holds its
// owner and a sequence number that grows with each write.
func TestSmallWrites_ConcurrentSyncDurable(t *testing.T) {
	const (
		cs      = chunkmap.MinChunkSize
		nch     = 8
		stripe  = 4096
		writers = 3
		owners  = writers + 1 // the last one writes with atomics
		words   = nch * cs / 8
	)
	for _, tc := range []struct {
		name string
		opts chunkmap.Options
	}{
		{"evicting", chunkmap.Options{ChunkSize: cs, MaxMapped: 3, NoAdmission: true}},
		{"all mapped", chunkmap.Options{ChunkSize: cs, NoAdmission: true}},
		{"admission", chunkmap.Options{ChunkSize: cs, MaxMapped: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			rec := vfstest.NewRecorder(vfs.OS, "A")
			rec.NoSync = true
			opts := tc.opts
			chunkmap.SetFS(&opts, rec)
			m, err := chunkmap.Open(dir, &opts)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(make([]byte, nch*cs), 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			// owner returns the owner of word w.
			owner := func(w int) int { return ((w*8 + stripe/2) / stripe) % owners }
			var (
				mu    [owners]sync.Mutex
				model [owners][]uint64 // seq of each word, by owner
			)
			for g := range owners {
				model[g] = make([]uint64, words)
			}
			// stripes returns the word range [lo, hi) of owner g's stripe i.
			nstripes := (nch*cs + stripe/2) / stripe
			stripeOf := func(g, i int) (lo, hi int) {
				s := i*owners + g
				lo = max(0, s*stripe-stripe/2) / 8
				hi = min(nch*cs, s*stripe+stripe/2) / 8
				return lo, hi
			}
			perOwner := (nstripes + owners - 1) / owners
			pick := func(r *rand.Rand, g int) (lo, hi int) {
				for {
					i := r.IntN(perOwner)
					if i*owners+g < nstripes+1 {
						lo, hi = stripeOf(g, i)
						if lo < hi {
							break
						}
					}
				}
				a := lo + r.IntN(hi-lo)
				b := a + 1 + r.IntN(min(hi-a, 1+r.IntN(64)))
				if r.IntN(8) == 0 {
					a, b = lo, hi
				}
				return a, b
			}
			type checkpoint struct {
				steps int
				snap  [owners][]uint64
			}
			var (
				cps  []checkpoint
				done = make(chan struct{})
				errs = make(chan error, 16)
				wg   sync.WaitGroup
			)
			for g := range writers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 1))
					buf := make([]byte, stripe)
					for seq := uint64(1); ; seq++ {
						select {
						case <-done:
							return
						default:
						}
						lo, hi := pick(r, g)
						v := uint64(g)<<56 | seq
						for i := range hi - lo {
							binary.LittleEndian.PutUint64(buf[i*8:], v)
						}
						if _, err := m.WriteAt(buf[:(hi-lo)*8], int64(lo)*8); err != nil {
							errs <- err
							return
						}
						mu[g].Lock()
						for w := lo; w < hi; w++ {
							model[g][w] = seq
						}
						mu[g].Unlock()
					}
				})
			}
			wg.Go(func() { // atomics
				g := owners - 1
				r := rand.New(rand.NewPCG(uint64(g), 1))
				for seq := uint64(1); ; seq++ {
					select {
					case <-done:
						return
					default:
					}
					lo, _ := pick(r, g)
					if err := m.StoreUint64(int64(lo)*8, uint64(g)<<56|seq); err != nil {
						errs <- err
						return
					}
					mu[g].Lock()
					model[g][lo] = seq
					mu[g].Unlock()
				}
			})
			wg.Go(func() { // readers and pins
				r := rand.New(rand.NewPCG(99, 1))
				buf := make([]byte, 3*stripe)
				for {
					select {
					case <-done:
						return
					default:
					}
					off := int64(r.IntN(nch*cs - len(buf)))
					switch r.IntN(3) {
					case 0:
						if _, err := m.ReadAt(buf, off); err != nil {
							errs <- err
							return
						}
					case 1:
						p, err := m.Pin(off&^(cs-1), cs)
						if err != nil {
							errs <- err
							return
						}
						p.Release()
					case 2:
						p, err := m.PinWritable(off&^(cs-1), cs)
						if err != nil {
							errs <- err
							return
						}
						p.Release()
					}
				}
			})
			syncs := 60
			if raceEnabled {
				syncs = 12
			}
			for range syncs {
				var cp checkpoint
				for g := range owners {
					mu[g].Lock()
					cp.snap[g] = append([]uint64(nil), model[g]...)
					mu[g].Unlock()
				}
				if err := m.Sync(); err != nil {
					t.Error(err)
					break
				}
				cp.steps = rec.Steps()
				cps = append(cps, cp)
			}
			close(done)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			// Read-after-write: the final model.
			got := make([]byte, nch*cs)
			if _, err := m.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			for w := range words {
				g := owner(w)
				want := uint64(0)
				if s := model[g][w]; s != 0 {
					want = uint64(g)<<56 | s
				}
				if v := binary.LittleEndian.Uint64(got[w*8:]); v != want {
					t.Fatalf("ReadAt: word at %d = %#x, want %#x", w*8, v, want)
				}
			}
			bad := 0
			for ci, cp := range cps {
				im, err := rec.Image(dir, vfstest.Cut{After: cp.steps})
				if err != nil {
					t.Fatal(err)
				}
				for c := range nch {
					f, ok := im.File(chunk.Name(int64(c)))
					if !ok || len(f.Data) != cs {
						t.Fatalf("checkpoint %d: chunk %d missing or short in %v", ci, c, im)
					}
					for i := range cs / 8 {
						w := c*cs/8 + i
						g := owner(w)
						s := cp.snap[g][w]
						if s == 0 {
							continue
						}
						v := binary.LittleEndian.Uint64(f.Data[i*8:])
						if int(v>>56) != g || v&(1<<56-1) < s {
							if bad++; bad <= 5 {
								t.Errorf("power loss after Sync %d: word at %d (chunk %d) = %#x, want owner %d seq >= %d", ci, w*8, c, v, g, s)
							}
						}
					}
				}
			}
			if bad > 0 {
				t.Fatalf("%d words lost", bad)
			}
		})
	}
}
