package clients

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestPinsSeeSmallWrites interleaves small WriteAts (the pwrite route after
// a Sync), reads through read-only and writable pins, stores through
// writable pins, and Syncs, and checks that every read, through a pin or
// ReadAt, sees the latest bytes, before and after a reopen.
func TestPinsSeeSmallWrites(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, o := range []chunkmap.Options{
		{ChunkSize: cs, MaxMapped: 1},
		{ChunkSize: cs, MaxMapped: 2, NoAdmission: true},
		{ChunkSize: cs, MaxMapped: 3, ArenaSize: 2 * cs},
	} {
		dir := t.TempDir()
		m := openCM(t, dir, o)
		want := make([]byte, 6*cs)
		rng := rand.New(rand.NewPCG(5, uint64(o.MaxMapped)))
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		if _, err := m.Append(want); err != nil {
			t.Fatal(err)
		}
		var pins []*chunkmap.Pinned
		var pinOff []int64
		var pinW []bool
		for step := range 3000 {
			switch op := rng.IntN(100); {
			case op < 50:
				n := 1 + rng.IntN(16)
				off := rng.Int64N(int64(len(want) - n))
				if rng.IntN(2) == 0 {
					off = (off/cs+1)*cs - int64(rng.IntN(n)) // across a boundary
					if off+int64(n) > int64(len(want)) {
						off = int64(len(want) - n)
					}
				}
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
				if _, err := m.WriteAt(p, off); err != nil {
					t.Fatal(err)
				}
				copy(want[off:], p)
			case op < 60 && len(pins) < 2:
				n := 1 + rng.IntN(300)
				off := rng.Int64N(int64(len(want) - n))
				var p *chunkmap.Pinned
				var err error
				writable := rng.IntN(2) == 0
				if writable {
					p, err = m.PinWritable(off, n)
				} else {
					p, err = m.Pin(off, n)
				}
				if err != nil {
					continue // too many holds, or the like
				}
				pins = append(pins, p)
				pinOff = append(pinOff, off)
				pinW = append(pinW, writable)
			case op < 70 && len(pins) > 0:
				i := rng.IntN(len(pins))
				pins[i].Release()
				pins = append(pins[:i], pins[i+1:]...)
				pinOff = append(pinOff[:i], pinOff[i+1:]...)
				pinW = append(pinW[:i], pinW[i+1:]...)
			case op < 73 && len(pins) > 0:
				i := rng.IntN(len(pins))
				if !pinW[i] {
					continue
				}
				b := pins[i].Bytes()
				j := rng.IntN(len(b))
				b[j] = byte(rng.Uint32())
				want[pinOff[i]+int64(j)] = b[j]
			case op < 78:
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
			default:
				got := make([]byte, 1+rng.IntN(200))
				off := rng.Int64N(int64(len(want) - len(got)))
				if _, err := m.ReadAt(got, off); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want[off:off+int64(len(got))]) {
					t.Fatalf("step %d: ReadAt at %d differs", step, off)
				}
			}
			for i, p := range pins {
				b := p.Bytes()
				if !bytes.Equal(b, want[pinOff[i]:pinOff[i]+int64(len(b))]) {
					t.Fatalf("step %d: pin at %d (%d bytes) differs", step, pinOff[i], len(b))
				}
			}
		}
		for _, p := range pins {
			p.Release()
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m = openCM(t, dir, chunkmap.Options{MaxMapped: 1})
		got := make([]byte, len(want))
		if _, err := m.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if !bytes.Equal(got, want) {
			t.Fatal("contents differ after reopen")
		}
	}
}
