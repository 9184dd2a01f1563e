//go:build linux

package chunkmap_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestStress_GatherWideArena gathers values (straddling chunk boundaries
// too) at offsets spread over 80 chunks of 64 KiB, far more than the
// arena's slots and more distinct chunks than one block of a Gather
// checks, while other goroutines scatter into their own cells, hold pins
// across chunks and read elsewhere, so slots change owner during every
// block. With an arena of two slots and MaxMapped 2, and with one of 128
// slots and 100 chunks mapped, every value must be the pattern its offset
// was written with or the value its owner scattered; at a quiet moment
// with k pins held the mapped chunks must be at most MaxMapped plus those
// pins' mappings, as /proc/self/maps confirms, and once released at most
// MaxMapped.
func TestStress_GatherWideArena(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	const nchunks = 80
	seed := testSeed(t, "CHUNKMAP_STRESS_SEED")
	for i, o := range []chunkmap.Options{
		{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs},
		{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs, NoAdmission: true},
		{ChunkSize: cs, MaxMapped: 100, ArenaSize: 128 * cs, NoAdmission: true},
	} {
		t.Run(fmt.Sprintf("mapped%d/arena%d/noadm=%v", o.MaxMapped, o.ArenaSize/cs, o.NoAdmission), func(t *testing.T) {
			dir := t.TempDir()
			fdBase, _ := stressFDs(t, dir)
			m, err := chunkmap.Open(dir, &o)
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, nchunks*cs)
			stressFillPat(data, 0)
			if _, err := m.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			// Writer g owns the 8-byte cells at offsets 8*(k*3+g); the
			// values it scatters are the pattern's bitwise complement.
			// Readers gather 8-byte values at any offset; each byte must be
			// the pattern or its complement, never anything else.
			master := rand.New(rand.NewPCG(seed+uint64(i), 3))
			deadline := time.Now().Add(stormFor(time.Second))
			var wg sync.WaitGroup
			for g := 0; g < 5; g++ {
				rng := rand.New(rand.NewPCG(master.Uint64(), uint64(g)))
				advGo(t, &wg, fmt.Sprintf("goroutine %d", g), func() {
					for time.Now().Before(deadline) && !t.Failed() {
						k := 300 + rng.IntN(500)
						offs := make([]int64, k)
						buf := make([]byte, 8*k)
						switch g {
						case 0, 1: // scatter complements into own cells
							for j := range offs {
								offs[j] = 8 * (3*rng.Int64N(nchunks*cs/24) + int64(g))
								for b := range 8 {
									buf[8*j+b] = ^stressPat(offs[j] + int64(b))
								}
							}
							if err := m.Scatter(buf, offs, 8); err != nil {
								t.Errorf("scatter: %v", err)
								return
							}
						case 2: // pins across chunks, held a while
							var pins []*chunkmap.Pinned
							for range 1 + rng.IntN(3) {
								off := rng.Int64N(nchunks*cs - 2*cs)
								p, err := m.Pin(off, cs+rng.IntN(cs))
								if err != nil {
									t.Errorf("pin: %v", err)
									return
								}
								pins = append(pins, p)
							}
							time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
							for _, p := range pins {
								p.Release()
							}
						default: // gather anywhere
							for j := range offs {
								offs[j] = rng.Int64N(nchunks*cs - 7)
							}
							if err := m.Gather(buf, offs, 8); err != nil {
								t.Errorf("gather: %v", err)
								return
							}
							for j, off := range offs {
								for b := range 8 {
									o := off + int64(b)
									if v := buf[8*j+b]; v != stressPat(o) && v != ^stressPat(o) {
										t.Errorf("gather value %d at %d (chunk %d): byte %d = %#x, want %#x or %#x", j, off, off/cs, b, v, stressPat(o), ^stressPat(o))
										return
									}
								}
							}
						}
					}
				})
			}
			advWait(t, &wg, 60*time.Second, "goroutines")
			stressCheckBound(t, m, dir, o.MaxMapped, 0, "quiet")
			var pins []*chunkmap.Pinned
			for k := 0; k < 3; k++ {
				p, err := m.Pin(int64(10*k+5)*cs-8, 16) // chunks 10k+4 and 10k+5
				if err != nil {
					t.Fatal(err)
				}
				pins = append(pins, p)
				stressCheckBound(t, m, dir, o.MaxMapped, 2*(k+1), fmt.Sprintf("%d pins of two chunks", k+1))
			}
			for _, p := range pins {
				p.Release()
			}
			stressCheckBound(t, m, dir, o.MaxMapped, 0, "pins released")
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if k := stressChunkMapped(t, dir); k != 0 {
				t.Errorf("after Close, /proc/self/maps lists %d bytes of chunk files", k)
			}
			if all, of := stressFDs(t, dir); of != 0 || all > fdBase {
				t.Errorf("after Close: %d descriptors (%d before Open), %d of the dataset", all, fdBase, of)
			}
		})
	}
}
