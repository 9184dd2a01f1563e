//go:build linux

package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestStress_MixedModel runs workers that own disjoint, chunk-crossing
// stripes of a dataset of 64 KiB chunks and hit them through every access
// path (WriteAt, ReadAt, Scatter, Gather, Batch Bytes and WritableBytes
// held while others evict, Pin and PinWritable across chunk boundaries,
// AddUint64, CompareAndSwapUint64, LoadUint64), beside shared atomic
// counters with known totals, an appender, an evicting reader, Advise and
// Sync, with MaxMapped 1 to 3, arenas of 1 to 4 slots and admission on and
// off. Every read is checked against the model as it happens; at the end
// every byte is checked, the mapped-chunk bound is checked against
// Stats and /proc/self/maps, Close must leave no chunk mapped and no file
// of the dataset open, and a reopen with other options must read the same
// bytes. It proves that slot reuse and eviction never lose, misplace or
// tear a byte, and never leak a mapping or a descriptor.
func TestStress_MixedModel(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	configs := []chunkmap.Options{
		{ChunkSize: cs, MaxMapped: 1, ArenaSize: cs},
		{ChunkSize: cs, MaxMapped: 1, ArenaSize: cs, NoAdmission: true},
		{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs, Advice: chunkmap.AdviceRandom},
		{ChunkSize: cs, MaxMapped: 2, ArenaSize: 3 * cs, NoAdmission: true},
		{ChunkSize: cs, MaxMapped: 3, ArenaSize: 4 * cs},
		{ChunkSize: cs, MaxMapped: 3, ArenaSize: 2 * cs, NoAdmission: true},
	}
	seed := testSeed(t, "CHUNKMAP_STRESS_SEED")
	for i, o := range configs {
		t.Run(fmt.Sprintf("mapped%d/arena%d/noadm=%v", o.MaxMapped, o.ArenaSize/cs, o.NoAdmission), func(t *testing.T) {
			s := seed + uint64(i)
			t.Logf("config seed %d", s)
			stressModelRun(t, o, s)
		})
	}
}

const (
	smChunks  = 6
	smRegion  = smChunks * chunkmap.MinChunkSize
	smStripe  = 20000 // not a divisor of the chunk size: stripes cross chunk boundaries
	smStripes = smRegion / smStripe
	smWorkers = 5
	smGroups  = smWorkers + 1 // stripe s belongs to worker s%smGroups; group smWorkers holds counters
	smCounter = 16            // counters per counter stripe
)

func smCounterOff(s, j int) int64 { return (int64(s)*smStripe+7)&^7 + int64(j)*8 }

func stressModelRun(t *testing.T, opts chunkmap.Options, seed uint64) {
	dir := t.TempDir()
	fdBase, _ := stressFDs(t, dir)
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(make([]byte, smRegion), 0); err != nil {
		t.Fatal(err)
	}
	model := make([]byte, smRegion)
	var counterTotals [smStripes][smCounter]atomic.Uint64
	master := rand.New(rand.NewPCG(seed, 1))
	deadline := time.Now().Add(stormFor(1200 * time.Millisecond))
	stop := make(chan struct{})
	var wg, bg sync.WaitGroup

	for g := 0; g < smWorkers; g++ {
		rng := rand.New(rand.NewPCG(master.Uint64(), uint64(g)))
		var owned []int
		for s := g; s < smStripes; s += smGroups {
			owned = append(owned, s)
		}
		advGo(t, &wg, fmt.Sprintf("worker %d", g), func() {
			for it := 0; it < 400 && time.Now().Before(deadline) && !t.Failed(); it++ {
				if err := smStep(t, m, rng, g, owned, model, &counterTotals); err != "" {
					t.Errorf("worker %d step %d: %s", g, it, err)
					return
				}
			}
		})
	}
	// Appender: records after the region, checked back at random.
	type rec struct {
		off  int64
		data []byte
	}
	var recs []rec
	arng := rand.New(rand.NewPCG(master.Uint64(), 100))
	advGo(t, &bg, "appender", func() {
		for len(recs) < 300 && !t.Failed() {
			select {
			case <-stop:
				return
			default:
			}
			p := make([]byte, 1+arng.IntN(3000))
			for i := range p {
				p[i] = byte(arng.Uint32())
			}
			off, err := m.Append(p)
			if stressErr(t, "append", err) {
				return
			}
			if off < smRegion {
				t.Errorf("append at %d, inside the preallocated region", off)
				return
			}
			recs = append(recs, rec{off, p})
			r := recs[arng.IntN(len(recs))]
			got := make([]byte, len(r.data))
			if _, err := m.ReadAt(got, r.off); stressErr(t, "read record", err) {
				return
			} else if !bytes.Equal(got, r.data) {
				t.Errorf("record at %d reads back wrong", r.off)
				return
			}
		}
	})
	// Evictor: reads, Advise and Sync all over the dataset.
	erng := rand.New(rand.NewPCG(master.Uint64(), 200))
	advGo(t, &bg, "evictor", func() {
		buf := make([]byte, 512)
		for !t.Failed() {
			select {
			case <-stop:
				return
			default:
			}
			size := m.Size()
			off := erng.Int64N(size)
			switch erng.IntN(8) {
			case 0:
				n := erng.Int64N(size - off + 1)
				if err := m.Advise(off, n, chunkmap.Advice(erng.IntN(5))); stressErr(t, "advise", err) {
					return
				}
			case 1:
				if err := m.Sync(); stressErr(t, "sync", err) {
					return
				}
			default:
				if _, err := m.ReadAt(buf, off); stressErr(t, "evictor read", err) {
					return
				}
			}
		}
	})
	advWait(t, &wg, 60*time.Second, "workers")
	close(stop)
	advWait(t, &bg, 60*time.Second, "background")
	if t.Failed() {
		m.Close()
		return
	}
	for s := smWorkers; s < smStripes; s += smGroups {
		for j := 0; j < smCounter; j++ {
			binary.NativeEndian.PutUint64(model[smCounterOff(s, j):], counterTotals[s][j].Load())
		}
	}
	verify := func(m *chunkmap.Manager, what string) {
		got := make([]byte, smRegion)
		if _, err := m.ReadAt(got, 0); err != nil {
			t.Fatalf("%s: read region: %v", what, err)
		}
		if i := firstDiff(got, model); i >= 0 {
			t.Fatalf("%s: byte %d (chunk %d, stripe %d) = %#x, model %#x", what, i, i/chunkmap.MinChunkSize, i/smStripe, got[i], model[i])
		}
		for _, r := range recs {
			p := make([]byte, len(r.data))
			if _, err := m.ReadAt(p, r.off); err != nil || !bytes.Equal(p, r.data) {
				t.Fatalf("%s: record at %d: %v, equal=%v", what, r.off, err, bytes.Equal(p, r.data))
			}
		}
	}
	verify(m, "before close")
	stressCheckBound(t, m, dir, opts.MaxMapped, 0, "quiet, before close")
	size := m.Size()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if k := stressChunkMapped(t, dir); k != 0 {
		t.Errorf("after Close, /proc/self/maps still lists %d bytes of chunk files", k)
	}
	if all, of := stressFDs(t, dir); of != 0 || all > fdBase {
		t.Errorf("after Close: %d descriptors open (%d before Open), %d of them files of the dataset", all, fdBase, of)
	}
	o2 := opts
	o2.NoAdmission = !opts.NoAdmission
	o2.MaxMapped = 1
	m2, err := chunkmap.Open(dir, &o2)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.Size() != size {
		t.Fatalf("reopened Size = %d, want %d", m2.Size(), size)
	}
	verify(m2, "after reopen")
	stressCheckBound(t, m2, dir, 1, 0, "after reopen")
}

// smStep does one random operation of worker g on its stripes and checks
// it against the model; it returns a description of what went wrong.
func smStep(t *testing.T, m *chunkmap.Manager, rng *rand.Rand, g int, owned []int, model []byte, totals *[smStripes][smCounter]atomic.Uint64) string {
	s := owned[rng.IntN(len(owned))]
	sbase := int64(s) * smStripe
	lo := sbase + rng.Int64N(smStripe)
	hi := lo + 1 + rng.Int64N(sbase+smStripe-lo)
	fill := func(p []byte) {
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
	}
	check := func(what string, got []byte, off int64) string {
		if i := firstDiff(got, model[off:off+int64(len(got))]); i >= 0 {
			return fmt.Sprintf("%s: byte at %d (chunk %d) = %#x, model %#x", what, off+int64(i), (off+int64(i))/chunkmap.MinChunkSize, got[i], model[off+int64(i)])
		}
		return ""
	}
	errStr := func(what string, err error) string {
		if msg := advErrCheck(err); msg != "" {
			return what + ": " + msg
		}
		return fmt.Sprintf("%s: %v", what, err)
	}
	switch op := rng.IntN(11); op {
	case 0: // WriteAt
		p := make([]byte, hi-lo)
		fill(p)
		if _, err := m.WriteAt(p, lo); err != nil {
			return errStr("WriteAt", err)
		}
		copy(model[lo:], p)
	case 1: // ReadAt
		p := make([]byte, hi-lo)
		if _, err := m.ReadAt(p, lo); err != nil {
			return errStr("ReadAt", err)
		}
		return check("ReadAt", p, lo)
	case 2: // Scatter then Gather, over all owned stripes
		n := []int{1, 3, 8, 16, 40}[rng.IntN(5)]
		k := 1 + rng.IntN(600)
		used := map[int64]bool{}
		var offs []int64
		for len(offs) < k {
			st := owned[rng.IntN(len(owned))]
			off := int64(st)*smStripe + rng.Int64N(smStripe/int64(n))*int64(n)
			if !used[off] {
				used[off] = true
				offs = append(offs, off)
			}
		}
		src := make([]byte, k*n)
		fill(src)
		if err := m.Scatter(src, offs, n); err != nil {
			return errStr("Scatter", err)
		}
		for i, off := range offs {
			copy(model[off:off+int64(n)], src[i*n:])
		}
		dst := make([]byte, k*n)
		if err := m.Gather(dst, offs, n); err != nil {
			return errStr("Gather", err)
		}
		for i, off := range offs {
			if msg := check("Gather after Scatter", dst[i*n:(i+1)*n], off); msg != "" {
				return msg
			}
		}
	case 3: // Gather with repeats, values of any alignment
		n := 1 + rng.IntN(24)
		k := 1 + rng.IntN(700)
		offs := make([]int64, k)
		for i := range offs {
			st := owned[rng.IntN(len(owned))]
			offs[i] = int64(st)*smStripe + rng.Int64N(smStripe-int64(n)+1)
		}
		dst := make([]byte, k*n)
		if err := m.Gather(dst, offs, n); err != nil {
			return errStr("Gather", err)
		}
		for i, off := range offs {
			if msg := check("Gather", dst[i*n:(i+1)*n], off); msg != "" {
				return msg
			}
		}
	case 4: // a long Batch
		var msg string
		err := m.Batch(func(b *chunkmap.Batch) error {
			w, err := b.WritableBytes(lo, int(hi-lo))
			if err != nil {
				return err
			}
			fill(w)
			copy(model[lo:], w)
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond)
			for range 3 {
				st := owned[rng.IntN(len(owned))]
				o := int64(st)*smStripe + rng.Int64N(smStripe)
				n := 1 + rng.Int64N(int64(st)*smStripe+smStripe-o)
				r, err := b.Bytes(o, int(n))
				if err != nil {
					return err
				}
				if msg = check("Batch.Bytes", r, o); msg != "" {
					return nil
				}
				stressYield()
			}
			r, err := b.Bytes(lo, int(hi-lo))
			if err != nil {
				return err
			}
			msg = check("Batch.Bytes of its own writes", r, lo)
			return nil
		})
		if err != nil {
			return errStr("Batch", err)
		}
		return msg
	case 5: // PinWritable, store, Release; Pin, check
		p, err := m.PinWritable(lo, int(hi-lo))
		if err != nil {
			return errStr("PinWritable", err)
		}
		w := p.Bytes()
		fill(w)
		copy(model[lo:], w)
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
		}
		p.Release()
		r, err := m.Pin(lo, int(hi-lo))
		if err != nil {
			return errStr("Pin", err)
		}
		msg := check("Pin", r.Bytes(), lo)
		r.Release()
		return msg
	case 6, 7: // atomics on a private word
		off := (lo + 7) &^ 7
		if off+8 > sbase+smStripe {
			return ""
		}
		cur := binary.NativeEndian.Uint64(model[off:])
		d := rng.Uint64()
		v, err := m.AddUint64(off, d)
		if err != nil {
			return errStr("AddUint64", err)
		}
		if v != cur+d {
			return fmt.Sprintf("AddUint64 at %d returned %#x, want %#x", off, v, cur+d)
		}
		nv := rng.Uint64()
		ok, err := m.CompareAndSwapUint64(off, v, nv)
		if err != nil || !ok {
			return fmt.Sprintf("CompareAndSwapUint64 at %d from the current value: %v, %v", off, ok, err)
		}
		x, err := m.LoadUint64(off)
		if err != nil || x != nv {
			return fmt.Sprintf("LoadUint64 at %d = %#x, %v; want %#x", off, x, err, nv)
		}
		binary.NativeEndian.PutUint64(model[off:], nv)
	case 8, 9: // shared counters
		for range 1 + rng.IntN(20) {
			cst := smWorkers + smGroups*rng.IntN((smStripes-smWorkers+smGroups-1)/smGroups)
			j := rng.IntN(smCounter)
			d := uint64(1 + rng.IntN(1000))
			totals[cst][j].Add(d)
			if _, err := m.AddUint64(smCounterOff(cst, j), d); err != nil {
				return errStr("shared AddUint64", err)
			}
		}
	case 10:
		if err := m.Sync(); err != nil {
			return errStr("Sync", err)
		}
	}
	return ""
}
