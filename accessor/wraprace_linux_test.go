package accessor_test

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// wrTag is the byte the race test stores everywhere in chunk idx in
// generation gen: never zero, and naming its chunk.
func wrTag(idx int64, gen int) byte { return 0x80 | byte(gen&1)<<6 | byte(idx&0x3f) }

// wrBad returns the offset of the first byte of b (at off) that names
// another chunk than its own, or is zero where zero is not allowed, or -1.
func wrBad(b []byte, off int64, zeroOK bool) int64 {
	for i, x := range b {
		o := off + int64(i)
		if x == 0 && zeroOK {
			continue
		}
		if x&0x80 == 0 || int64(x&0x3f) != (o/advCS)&0x3f {
			return o
		}
	}
	return -1
}

// TestWrapRace races readers of every kind against a writer that cuts the
// dataset into a chunk (or past whole chunks) and writes it anew past Size
// in one WriteAt, over an arena of few slots: the bytes from the cut on
// pass from the old generation to the new one with no instant at which the
// dataset holds zeros there, so a read that returns bytes (ReadAt, typed
// and bulk reads, gathers, atomic loads, typed scans) must find none, and
// no read, pin, batch or block may return a byte of another chunk.
func TestWrapRace(t *testing.T) {
	seed := testSeed(t, "WRAPRACE_SEED")
	const (
		lo = 2 * advCS
		hi = 8 * advCS
	)
	d := 400 * time.Millisecond
	if raceEnabled {
		d = 200 * time.Millisecond
	}
	if s := os.Getenv("WRAPRACE_DUR"); s != "" {
		d, _ = time.ParseDuration(s)
	}
	for _, tc := range []struct{ slots, maxMapped int }{{1, 1}, {2, 1}, {4, 2}} {
		t.Run(fmt.Sprintf("slots=%d,maxMapped=%d", tc.slots, tc.maxMapped), func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: tc.maxMapped,
				ArenaSize: int64(tc.slots) * advCS})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			fill := func(from int64, gen int) []byte {
				p := make([]byte, hi-from)
				for i := range p {
					p[i] = wrTag((from+int64(i))/advCS, gen)
				}
				return p
			}
			if _, err := m.WriteAt(fill(0, 0), 0); err != nil {
				t.Fatal(err)
			}
			// A follower with an arena as small reads beside the writer.
			fm, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: tc.maxMapped,
				ArenaSize: int64(tc.slots) * advCS, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer fm.Close()
			mgrs := []*chunkmap.Manager{m, fm}
			var stop atomic.Bool
			var wg sync.WaitGroup
			var failMu sync.Mutex
			var fails int
			fail := func(format string, args ...any) {
				failMu.Lock()
				defer failMu.Unlock()
				if fails++; fails < 5 {
					t.Errorf(format, args...)
				}
				stop.Store(true)
			}
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, 1))
				for gen := 1; !stop.Load(); gen++ {
					cut := lo + r.Int64N(hi-lo)
					if err := m.Truncate(cut); err != nil {
						fail("Truncate(%d): %v", cut, err)
						return
					}
					if _, err := m.WriteAt(fill(cut, gen), cut); err != nil {
						fail("WriteAt at %d: %v", cut, err)
						return
					}
				}
			})
			okErr := func(err error) bool {
				return err == nil || err == io.EOF || errors.Is(err, chunkmap.ErrOutOfRange)
			}
			for g := range 6 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(seed, uint64(10+g)))
					m := mgrs[g%2]
					va := accessor.New(m, nil)
					buf := make([]byte, 3*advCS)
					for !stop.Load() {
						n := 1 + r.Int64N(3*advCS)
						off := lo + r.Int64N(hi-lo-n)
						switch r.IntN(8) {
						case 0:
							k, err := m.ReadAt(buf[:n], off)
							if !okErr(err) {
								fail("ReadAt: %v", err)
							}
							if o := wrBad(buf[:k], off, false); o >= 0 {
								fail("ReadAt of %d bytes at %d returned %d: byte at %d (chunk %d+%d) is %#x", n, off, k, o, o/advCS, o%advCS, buf[o-off])
							}
						case 1:
							off &^= 7
							x, err := va.ReadUint64(off)
							if !okErr(err) {
								fail("ReadUint64: %v", err)
							}
							if err == nil {
								var b [8]byte
								for i := range b {
									b[i] = byte(x >> (8 * i))
								}
								if o := wrBad(b[:], off, false); o >= 0 {
									fail("ReadUint64 at %d: %#x: byte at %d is bad", off, x, o)
								}
							}
							y, err := va.LoadUint64(off)
							if !okErr(err) {
								fail("LoadUint64: %v", err)
							}
							if err == nil {
								var b [8]byte
								for i := range b {
									b[i] = byte(y >> (8 * i))
								}
								if o := wrBad(b[:], off, false); o >= 0 {
									fail("LoadUint64 at %d: %#x: byte at %d is bad", off, y, o)
								}
							}
						case 2:
							offs := make([]int64, 64)
							for i := range offs {
								offs[i] = lo + r.Int64N(hi-lo-8)
							}
							dst := make([]byte, 8*len(offs))
							err := m.Gather(dst, offs, 8)
							if !okErr(err) {
								fail("Gather: %v", err)
							}
							if err == nil {
								for i, o := range offs {
									if b := wrBad(dst[8*i:8*i+8], o, false); b >= 0 {
										fail("Gather: value at %d: byte at %d (chunk %d+%d) is %#x", o, b, b/advCS, b%advCS, dst[8*i+int(b-o)])
									}
								}
							}
						case 3:
							s := va.Scan()
							i := int64(0)
							for o, x := range s.Uint32s(off&^3, int(n/4)) {
								b := []byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24)}
								if bad := wrBad(b, o, false); bad >= 0 {
									fail("scan Uint32s from %d: value %d at %d: %#x", off&^3, i, o, x)
									break
								}
								i++
							}
							if !okErr(s.Err()) {
								fail("scan: %v", s.Err())
							}
						case 4:
							// Pins and batches hold plain memory, which
							// may show the zeros of a growth (see Batch).
							p, err := m.Pin(off, int(n))
							if !okErr(err) {
								fail("Pin: %v", err)
							}
							if err == nil {
								if o := wrBad(p.Bytes(), off, true); o >= 0 {
									fail("Pin of %d bytes at %d: byte at %d (chunk %d+%d) is %#x", n, off, o, o/advCS, o%advCS, p.Bytes()[o-off])
								}
								p.Release()
							}
						case 5:
							err := m.Batch(func(b *chunkmap.Batch) error {
								for range 4 {
									n := 1 + r.Int64N(2*advCS)
									off := lo + r.Int64N(hi-lo-n)
									p, err := b.Bytes(off, int(n))
									if err != nil {
										return err
									}
									if o := wrBad(p, off, true); o >= 0 {
										fail("Batch.Bytes of %d bytes at %d: byte at %d (chunk %d+%d) is %#x", n, off, o, o/advCS, o%advCS, p[o-off])
									}
								}
								return nil
							})
							if !okErr(err) {
								fail("Batch: %v", err)
							}
						case 6:
							s := va.Scan()
							next, stopPull := iter.Pull2(s.Blocks(off, n))
							for {
								o, b, ok := next()
								if !ok {
									break
								}
								if bad := wrBad(b, o, true); bad >= 0 {
									fail("block at %d: byte at %d (chunk %d+%d) is %#x", o, bad, bad/advCS, bad%advCS, b[bad-o])
								}
							}
							stopPull()
							if !okErr(s.Err()) {
								fail("Blocks: %v", s.Err())
							}
						case 7:
							dst := make([]uint64, n/8)
							err := va.ReadUint64s(off, dst)
							if !okErr(err) {
								fail("ReadUint64s: %v", err)
							}
							if err == nil {
								for i, x := range dst {
									b := []byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24), byte(x >> 32), byte(x >> 40), byte(x >> 48), byte(x >> 56)}
									if bad := wrBad(b, off+int64(8*i), false); bad >= 0 {
										fail("ReadUint64s from %d: value %d: byte at %d (chunk %d+%d) is bad: %#x", off, i, bad, bad/advCS, bad%advCS, x)
										break
									}
								}
							}
						}
					}
				})
			}
			time.Sleep(d)
			stop.Store(true)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("hung")
			}
		})
	}
}
