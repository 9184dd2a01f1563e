package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// advRegion is a writer goroutine's own bytes and what it knows of them:
// model holds the bytes every acknowledged write left; after the writer's
// one failed write, alt holds what that write tried to store at [altLo,
// altHi), which may or may not have landed (in part, for a multi-chunk
// call).
type advRegion struct {
	base         int64
	model        []byte
	alt          []byte
	altLo, altHi int
	acked        int
	ops          map[string]int
}

// TestAdversarial_CloseRacesEverything runs every kind of call from many
// goroutines while Close runs, on 64 KiB chunks with few mapped and a tiny
// arena (so slots are shared and evicted constantly), with admission on and
// off. It proves that: no call panics or hangs; every error a call returns
// matches a sentinel and names its operation, and the only error any of
// them sees is ErrClosed; every call that starts after Close returned
// fails with ErrClosed; pins taken before Close stay readable until
// released; and every write, append and atomic add that returned nil is in
// the dataset after Close and reopen, byte for byte.
func TestAdversarial_CloseRacesEverything(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	configs := []struct {
		name string
		opts chunkmap.Options
	}{
		{"admission/arena2", chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs}},
		{"noadmission/arena2", chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs, NoAdmission: true}},
		{"noadmission/arena1/mapped1", chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: cs, NoAdmission: true}},
		{"admission/default-arena", chunkmap.Options{ChunkSize: cs, MaxMapped: 3}},
	}
	for ci, cfg := range configs {
		for round := 0; round < 3; round++ {
			seed := uint64(time.Now().UnixNano()) + uint64(ci*100+round)
			t.Run(fmt.Sprintf("%s/round%d", cfg.name, round), func(t *testing.T) {
				t.Logf("seed %d", seed)
				advCloseRace(t, cfg.opts, seed)
			})
		}
	}
}

func advCloseRace(t *testing.T, opts chunkmap.Options, seed uint64) {
	const cs = chunkmap.MinChunkSize
	const nchunks = 8
	const writers = 5
	const regionLen = cs + 5000 // each region crosses a chunk boundary
	const counterOff = 0        // an atomic counter in the first 8 bytes
	dir := t.TempDir()
	master := rand.New(rand.NewPCG(seed, 1))
	m := advOpen(t, dir, &opts)
	// Every region crosses a chunk boundary, and its batches with it.
	chunkmap.SkipNoSideBySide(t, m)
	if err := m.Truncate(nchunks * cs); err != nil {
		t.Fatal(err)
	}
	va := accessor.New(m, nil)
	regions := make([]*advRegion, writers)
	for g := range regions {
		regions[g] = &advRegion{base: 4096 + int64(g)*regionLen, model: make([]byte, regionLen), ops: map[string]int{}}
	}
	if end := regions[writers-1].base + regionLen; end > nchunks*cs {
		t.Fatalf("regions end at %d, past the dataset", end)
	}

	var closeReturned atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex // guards appends
	type rec struct {
		off  int64
		data []byte
	}
	var appends []rec
	var adds, addAttempts atomic.Int64

	// check is how each goroutine judges an error: nil is fine before
	// Close returned, and after it only ErrClosed is. It reports whether
	// the goroutine should stop.
	check := func(what string, err error, ops ...string) bool {
		if msg := advErrCheck(err, ops...); msg != "" {
			t.Errorf("%s: %s", what, msg)
		}
		if err == nil {
			// Allowed for a call that started before Close returned;
			// afterClose checks the calls made after.
			return false
		}
		if !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s during Close: got %v, want nil or ErrClosed", what, err)
		}
		return true
	}
	// afterClose runs call once Close has returned and requires ErrClosed.
	afterClose := func(what string, call func() error) {
		for !closeReturned.Load() {
			time.Sleep(time.Millisecond)
		}
		err := call()
		if !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s after Close returned: got %v, want ErrClosed", what, err)
		}
	}

	// Writers, each in its own region, with a model.
	for g := 0; g < writers; g++ {
		r := regions[g]
		rng := rand.New(rand.NewPCG(master.Uint64(), uint64(g)))
		advGo(t, &wg, fmt.Sprintf("writer %d", g), func() {
			for {
				kind := rng.IntN(10)
				var lo, n int
				switch kind {
				case 1: // bulk: the pwrite path
					n = cs + rng.IntN(regionLen-cs)
				case 2, 4, 8: // 8-byte values
					n = 8
				case 3: // Scatter of aligned cells, laid out below
					n = 8
				default:
					n = 1 + rng.IntN(300)
				}
				lo = rng.IntN(regionLen - n + 1)
				if kind == 4 || kind == 3 { // atomics need aligned absolute offsets
					lo = int((r.base+int64(lo))&^7 - r.base)
					if lo < 0 {
						lo += 8
					}
				}
				data := make([]byte, n)
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				off := r.base + int64(lo)
				var err error
				var name string
				var ops []string
				switch kind {
				case 0, 1:
					name, ops = "WriteAt", []string{"write"}
					_, err = m.WriteAt(data, off)
				case 2:
					name, ops = "accessor.WriteUint64", []string{"write"}
					err = va.WriteUint64(off, binary.LittleEndian.Uint64(data))
				case 3:
					name, ops = "Scatter", []string{"scatter"}
					err = m.Scatter(data, []int64{off}, 8)
				case 4:
					name, ops = "StoreUint64", []string{"atomic"}
					err = m.StoreUint64(off, binary.NativeEndian.Uint64(data))
				case 5:
					name, ops = "Batch", []string{"batch"}
					err = m.Batch(func(b *chunkmap.Batch) error {
						p, err := b.WritableBytes(off, n)
						if err != nil {
							return err
						}
						copy(p, data)
						return nil
					})
				case 6:
					name, ops = "PinWritable", []string{"pin"}
					var p *chunkmap.Pinned
					p, err = m.PinWritable(off, n)
					if err == nil {
						copy(p.Bytes(), data)
						p.Release()
					}
				case 7:
					name, ops = "accessor.Slice", []string{"slice", "pin"}
					var w *accessor.View
					w, err = va.Slice(off, n)
					if err == nil {
						copy(w.Bytes(), data)
						w.Release()
					}
				case 8:
					name, ops = "accessor.Batch", []string{"batch"}
					err = va.Batch(func(b *accessor.Batch) error {
						return b.WriteUint64(off, binary.LittleEndian.Uint64(data))
					})
				case 9:
					name, ops = "accessor.WriteUint64s", []string{"write"}
					n = n &^ 7
					data = data[:n]
					vals := make([]uint64, n/8)
					for i := range vals {
						vals[i] = binary.LittleEndian.Uint64(data[8*i:])
					}
					err = va.WriteUint64s(off, vals)
				}
				if err == nil {
					copy(r.model[lo:], data)
					r.acked++
					r.ops[name]++
					continue
				}
				check(name, err, ops...)
				r.alt = append([]byte(nil), data...)
				r.altLo, r.altHi = lo, lo+len(data)
				afterClose(name, func() error { _, err := m.WriteAt(data, off); return err })
				return
			}
		})
	}

	// Appenders.
	for g := 0; g < 2; g++ {
		rng := rand.New(rand.NewPCG(master.Uint64(), 100+uint64(g)))
		advGo(t, &wg, "appender", func() {
			for {
				n := 1 + rng.IntN(400)
				if rng.IntN(20) == 0 {
					n = cs + rng.IntN(cs)
				}
				data := make([]byte, n)
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				off, err := m.Append(data)
				if err == nil {
					mu.Lock()
					appends = append(appends, rec{off, data})
					mu.Unlock()
					continue
				}
				check("Append", err, "append")
				afterClose("Append", func() error { _, err := m.Append(data); return err })
				return
			}
		})
	}

	// The atomic counter.
	advGo(t, &wg, "adder", func() {
		for {
			addAttempts.Add(1)
			_, err := m.AddUint64(counterOff, 1)
			if err == nil {
				adds.Add(1)
				continue
			}
			check("AddUint64", err, "atomic")
			afterClose("AddUint64", func() error { _, err := m.AddUint64(counterOff, 1); return err })
			return
		}
	})

	// Readers and everything else that changes no byte.
	others := []struct {
		name string
		ops  []string
		call func(rng *rand.Rand) error
	}{
		{"ReadAt", []string{"read"}, func(rng *rand.Rand) error {
			p := make([]byte, 1+rng.IntN(3*cs))
			_, err := m.ReadAt(p, rng.Int64N(nchunks*cs-int64(len(p))))
			return err
		}},
		{"Gather", []string{"gather"}, func(rng *rand.Rand) error {
			offs := make([]int64, 1+rng.IntN(600))
			for i := range offs {
				offs[i] = rng.Int64N(nchunks*cs - 8)
			}
			return m.Gather(make([]byte, 8*len(offs)), offs, 8)
		}},
		{"LoadUint64", []string{"atomic"}, func(rng *rand.Rand) error {
			_, err := m.LoadUint64(rng.Int64N(nchunks*cs/8) * 8)
			return err
		}},
		{"Pin", []string{"pin"}, func(rng *rand.Rand) error {
			n := 1 + rng.IntN(2*cs)
			p, err := m.Pin(rng.Int64N(nchunks*cs-int64(n)), n)
			if err != nil {
				return err
			}
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
			var sum byte
			for _, c := range p.Bytes() { // still mapped, Close or not
				sum += c
			}
			_ = sum
			p.Release()
			p.Release()
			return nil
		}},
		{"BatchRead", []string{"batch"}, func(rng *rand.Rand) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				for i := 0; i < 20; i++ {
					n := 1 + rng.IntN(cs)
					p, err := b.Bytes(rng.Int64N(nchunks*cs-int64(n)), n)
					if err != nil {
						return err
					}
					_ = p[len(p)-1]
				}
				return nil
			})
		}},
		{"Advise", []string{"advise"}, func(rng *rand.Rand) error {
			return m.Advise(rng.Int64N(nchunks*cs/2), rng.Int64N(nchunks*cs/2), chunkmap.Advice(rng.IntN(5)))
		}},
		{"Sync", []string{"sync"}, func(rng *rand.Rand) error { return m.Sync() }},
		{"Grow", []string{"grow"}, func(rng *rand.Rand) error { return m.Grow(rng.Int64N(2 * cs)) }},
		{"Refresh", []string{"refresh"}, func(rng *rand.Rand) error {
			_ = m.Stats()
			return m.Refresh()
		}},
		{"ReadUint64s", []string{"read", "uint64"}, func(rng *rand.Rand) error {
			return va.ReadUint64s(rng.Int64N(nchunks*cs-8*1000), make([]uint64, 1+rng.IntN(1000)))
		}},
		{"ReadUint64sAt", []string{"read", "gather"}, func(rng *rand.Rand) error {
			offs := []int64{rng.Int64N(nchunks*cs - 8), cs - 4}
			return va.ReadUint64sAt(offs, make([]uint64, 2))
		}},
		{"Scan", []string{"scan", "read", "block"}, func(rng *rand.Rand) error {
			s := va.Scan()
			for range s.Blocks(rng.Int64N(cs), 2*cs) {
			}
			return s.Err()
		}},
	}
	for i, o := range others {
		rng := rand.New(rand.NewPCG(master.Uint64(), 200+uint64(i)))
		advGo(t, &wg, o.name, func() {
			for {
				err := o.call(rng)
				if err == nil {
					continue
				}
				if err.Error() == "" || check(o.name, err, o.ops...) {
					afterClose(o.name, func() error { return o.call(rng) })
					return
				}
			}
		})
	}

	// A pin held across Close, read after it.
	pinned, err := m.Pin(regions[0].base, regionLen)
	if err != nil {
		t.Fatal(err)
	}

	time.Sleep(time.Duration(20+master.IntN(150)) * time.Millisecond)
	var cerr error
	advWithin(t, 20*time.Second, "Close", func() { cerr = m.Close() })
	closeReturned.Store(true)
	if cerr != nil && !errors.Is(cerr, chunkmap.ErrBusy) {
		t.Errorf("Close: %v (want nil, or ErrBusy while a batch runs)", cerr)
	}
	if msg := advErrCheck(cerr, "close"); msg != "" {
		t.Error(msg)
	}
	advWait(t, &wg, time.Minute, "workers after Close")
	if err := m.Close(); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("second Close: got %v, want ErrClosed", err)
	}
	// The pinned bytes are still mapped after Close.
	if got := len(pinned.Bytes()); got != regionLen {
		t.Errorf("pinned.Bytes() after Close has %d bytes, want %d", got, regionLen)
	}
	var sum int
	for _, c := range pinned.Bytes() {
		sum += int(c)
	}
	pinned.Release()
	if pinned.Bytes() != nil {
		t.Error("Bytes after Release is not nil")
	}

	// Reopen and check every acknowledged byte.
	m2 := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
	defer m2.Close()
	if t.Failed() {
		return
	}
	total := 0
	for g, r := range regions {
		total += r.acked
		got := make([]byte, regionLen)
		if _, err := m2.ReadAt(got, r.base); err != nil {
			t.Fatalf("reading region %d: %v", g, err)
		}
		for i := range got {
			if got[i] == r.model[i] {
				continue
			}
			if i >= r.altLo && i < r.altHi && got[i] == r.alt[i-r.altLo] {
				continue
			}
			end := i
			for end < len(got) && got[end] != r.model[end] {
				end++
			}
			t.Fatalf("writer %d (ops %v): byte %d (offset %d) is %#x, want %#x as acknowledged; %d bytes differ from there; failed write covered [%d, %d)",
				g, r.ops, i, r.base+int64(i), got[i], r.model[i], end-i, r.altLo, r.altHi)
		}
	}
	for _, a := range appends {
		got := make([]byte, len(a.data))
		if _, err := m2.ReadAt(got, a.off); err != nil {
			t.Fatalf("reading append at %d: %v", a.off, err)
		}
		if !bytes.Equal(got, a.data) {
			t.Fatalf("acknowledged append of %d bytes at %d lost", len(a.data), a.off)
		}
	}
	c, err := m2.LoadUint64(counterOff)
	if err != nil {
		t.Fatal(err)
	}
	if int64(c) < adds.Load() || int64(c) > addAttempts.Load() {
		t.Errorf("counter is %d after %d acknowledged adds of %d attempts", c, adds.Load(), addAttempts.Load())
	}
	t.Logf("%d acknowledged writes, %d appends, %d adds checked", total, len(appends), adds.Load())
}

// TestAdversarial_SyncRacingCloseReturnsErrClosed runs Syncs (with writes
// to give them work) in parallel with Close, over many rounds. Every Sync
// must return nil (it ran before Close) or an error matching ErrClosed: a
// Sync that lost the race has nothing left to sync, and the doc says calls
// after Close return ErrClosed. A broken implementation that checks closed
// only before taking the sync lock reports ErrIO from the closed manifest
// file instead.
func TestAdversarial_SyncRacingCloseReturnsErrClosed(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for round := 0; round < 30; round++ {
		m := advOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
		if _, err := m.WriteAt(make([]byte, 2*cs), 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var start sync.WaitGroup
		start.Add(1)
		errs := make(chan error, 64)
		for g := 0; g < 4; g++ {
			advGo(t, &wg, "syncer", func() {
				start.Wait()
				for i := 0; ; i++ {
					m.WriteAt([]byte{byte(i)}, int64(g)*cs/2)
					if err := m.Sync(); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		start.Done()
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		advWait(t, &wg, time.Minute, "syncers")
		close(errs)
		for err := range errs {
			if !errors.Is(err, chunkmap.ErrClosed) {
				t.Fatalf("round %d: Sync racing Close returned %v; want an error matching ErrClosed", round, err)
			}
		}
	}
}
