package accessor_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestLifecycle_BatchModelCallbacks runs typed batches whose function also
// truncates, drops, writes, syncs and scans, against a byte model, with an
// arena of one or two slots.
func TestLifecycle_BatchModelCallbacks(t *testing.T) {
	seed := testSeed(t, "LIFECYCLE_SEED")
	// The batches run on one goroutine, where the race detector, which
	// slows them about five times, has little to find: under it a quarter
	// of the steps run, and all of them without it.
	steps := 60
	if raceEnabled {
		steps = 15
	}
	for _, slots := range []int64{1, 2, 3} {
		for _, ord := range advOrders {
			rng := rand.New(rand.NewPCG(seed, uint64(slots)))
			dir := t.TempDir()
			m := advOpen(t, dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: 1, ArenaSize: slots * advCS})
			va := accessor.New(m, ord.order)
			md := &advModel{}
			start := int64(0)
			size := func() int64 { return int64(len(md.b)) }
			init := make([]byte, 6*advCS)
			for i := range init {
				init[i] = byte(rng.Uint32())
			}
			if _, err := m.WriteAt(init, 0); err != nil {
				t.Fatal(err)
			}
			md.put(0, init)
			for step := 0; step < steps; step++ {
				err := va.Batch(func(b *accessor.Batch) error {
					for k := 0; k < 20; k++ {
						if size()-start < 16 {
							return nil
						}
						off := start + rng.Int64N(size()-start-8)
						if rng.IntN(3) == 0 {
							// near a boundary
							c := (off/advCS + 1) * advCS
							if c < size()-8 {
								off = c - int64(rng.IntN(8))
							}
						}
						switch rng.IntN(9) {
						case 0:
							x := rng.Uint64()
							if err := b.WriteUint64(off, x); err != nil {
								t.Errorf("step %d write %d: %v", step, off, err)
								return err
							}
							var w [8]byte
							ord.enc.PutUint64(w[:], x)
							md.put(off, w[:])
						case 1:
							x, err := b.ReadUint64(off)
							if err != nil {
								t.Errorf("step %d read %d: %v", step, off, err)
								return err
							}
							if want := ord.enc.Uint64(md.b[off:]); x != want {
								t.Errorf("%s slots %d step %d read %d: %#x want %#x", ord.name, slots, step, off, x, want)
								return errors.New("mismatch")
							}
						case 2:
							x := uint32(rng.Uint32())
							if err := b.WriteUint32(off, x); err != nil {
								t.Errorf("write32: %v", err)
								return err
							}
							var w [4]byte
							ord.enc.PutUint32(w[:], x)
							md.put(off, w[:])
						case 3:
							n := rng.Int64N(size() - off)
							if err := b.Hold(off, n); err != nil {
								t.Errorf("hold: %v", err)
								return err
							}
						case 4:
							n := rng.Int64N(size() - off)
							if err := b.HoldWritable(off, n); err != nil {
								t.Errorf("holdw: %v", err)
								return err
							}
						case 5:
							// shrink then regrow, from inside the batch
							ns := max(start+16, size()-rng.Int64N(2*advCS))
							if err := m.Truncate(ns); err != nil {
								t.Errorf("truncate: %v", err)
								return err
							}
							md.truncate(ns)
							g := rng.Int64N(3 * advCS)
							p := make([]byte, g)
							for i := range p {
								p[i] = byte(rng.Uint32())
							}
							if _, err := m.WriteAt(p, ns); err != nil {
								t.Errorf("writeat: %v", err)
								return err
							}
							md.put(ns, p)
						case 6:
							if rng.IntN(4) == 0 && size()-start > 3*advCS {
								ns := start + rng.Int64N(advCS)
								if err := m.DropBefore(ns); err != nil {
									t.Errorf("drop: %v", err)
									return err
								}
								start = m.Start()
							}
						case 7:
							s := va.Scan()
							i := int64(0)
							n := min(int64(600), (size()-off)/8)
							for o, x := range s.Uint64s(off, int(n)) {
								if want := ord.enc.Uint64(md.b[o:]); x != want || o != off+8*i {
									t.Errorf("scan at %d: %#x want %#x", o, x, want)
									break
								}
								i++
							}
							if s.Err() != nil {
								t.Errorf("scan: %v", s.Err())
							}
							for o, blk := range s.Blocks(off, size()-off) {
								if !bytes.Equal(blk, md.b[o:o+int64(len(blk))]) {
									t.Errorf("block at %d differs", o)
								}
							}
							if s.Err() != nil {
								t.Errorf("blocks: %v", s.Err())
							}
						case 8:
							x, err := b.ReadUint16(off)
							if err != nil {
								t.Errorf("read16: %v", err)
								return err
							}
							if want := ord.enc.Uint16(md.b[off:]); x != want {
								t.Errorf("%s slots %d step %d read16 %d: %#x want %#x", ord.name, slots, step, off, x, want)
								return errors.New("mismatch")
							}
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("%s slots %d step %d: %v", ord.name, slots, step, err)
				}
				if st := m.Stats(); st.Pinned != 0 {
					t.Fatalf("pinned after batch: %+v", st)
				}
			}
			got := make([]byte, size()-start)
			if _, err := m.ReadAt(got, start); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, md.b[start:]) {
				t.Fatalf("%s slots %d: final differs", ord.name, slots)
			}
			_ = binary.LittleEndian
		}
	}
}
