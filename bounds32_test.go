package chunkmap_test

// Probes of offsets and lengths near the limits of a 32-bit int (the
// dataset's offsets are int64, in-memory lengths int): data past 4 GiB,
// pins and batch bytes near math.MaxInt32, ranges longer than the arena,
// and the options that bound a 32-bit address space. They run on every
// platform; GOARCH=386 is where they bite.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// h5Open opens a new dataset in a temporary directory with o.
func h5Open(t *testing.T, o *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(t.TempDir(), o)
	if err != nil {
		t.Fatalf("Open(%+v): %v", *o, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// h5Sentinel fails the test if err matches no sentinel.
func h5Sentinel(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range advSentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Errorf("%s: error %q (%T) matches no sentinel", what, err, err)
}

// h5Pattern is the byte at offset off of the test pattern.
func h5Pattern(off int64) byte { return byte(off*7 + off>>32 + 1) }

func h5Fill(off int64, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = h5Pattern(off + int64(i))
	}
	return p
}

// TestBounds32_PastFourGiB writes and reads data around 2^31 and 2^32 through
// every access path, with a dataset whose Start puts few chunks there.
func TestBounds32_PastFourGiB(t *testing.T) {
	const cs = 64 << 10
	for _, edge := range []int64{1 << 31, 1 << 32, 1 << 33, 1 << 40} {
		m := h5Open(t, &chunkmap.Options{ChunkSize: cs, Start: edge - 2*cs, MaxMapped: 1, ArenaSize: 2 * cs})
		// Append across the edge.
		data := h5Fill(edge-2*cs, 4*cs)
		pos, err := m.Append(data)
		if err != nil || pos != edge-2*cs {
			t.Fatalf("edge %#x: Append: %d, %v", edge, pos, err)
		}
		// WriteAt across the edge, small (mapped path).
		w := h5Fill(edge-3, 9)
		for i := range w {
			w[i] ^= 0x5a
		}
		if n, err := m.WriteAt(w, edge-3); n != 9 || err != nil {
			t.Fatalf("edge %#x: WriteAt: %d, %v", edge, n, err)
		}
		copy(data[2*cs-3:], w)
		got := make([]byte, len(data))
		if n, err := m.ReadAt(got, edge-2*cs); n != len(got) || err != nil {
			t.Fatalf("edge %#x: ReadAt: %d, %v", edge, n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("edge %#x: ReadAt: wrong bytes", edge)
		}
		// Pin across the edge (the arena has two slots: chunks
		// edge/cs-1 and edge/cs share a pair).
		for _, r := range [][2]int64{{edge - 5, 10}, {edge - cs - 1, cs + 2}, {edge - 2*cs, 4 * cs}, {edge - 1, 1}} {
			p, err := m.Pin(r[0], int(r[1]))
			if err != nil {
				t.Fatalf("edge %#x: Pin(%d, %d): %v", edge, r[0], r[1], err)
			}
			want := data[r[0]-(edge-2*cs):][:r[1]]
			if !bytes.Equal(p.Bytes(), want) {
				t.Fatalf("edge %#x: Pin(%d, %d): wrong bytes", edge, r[0], r[1])
			}
			p.Release()
		}
		// Batch bytes across the edge.
		err = m.Batch(func(b *chunkmap.Batch) error {
			for _, r := range [][2]int64{{edge - 5, 10}, {edge - 2*cs, 4 * cs}, {edge - 8, 8}, {edge + 2*cs - 1, 1}} {
				p, err := b.Bytes(r[0], int(r[1]))
				if err != nil {
					return err
				}
				if !bytes.Equal(p, data[r[0]-(edge-2*cs):][:r[1]]) {
					t.Errorf("edge %#x: Batch.Bytes(%d, %d): wrong bytes", edge, r[0], r[1])
				}
			}
			if _, err := b.Bytes(edge+2*cs-1, 2); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("edge %#x: Batch.Bytes past Size: %v", edge, err)
			}
			if _, err := b.Bytes(edge, math.MaxInt32); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("edge %#x: Batch.Bytes MaxInt32: %v", edge, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("edge %#x: Batch: %v", edge, err)
		}
		// Gather and Scatter with offsets on both sides of the edge.
		offs := []int64{edge - 8, edge, edge - 2*cs, edge + 2*cs - 8, edge - 4, edge + cs - 4}
		dst := make([]byte, 8*len(offs))
		if err := m.Gather(dst, offs, 8); err != nil {
			t.Fatalf("edge %#x: Gather: %v", edge, err)
		}
		for i, o := range offs {
			if !bytes.Equal(dst[8*i:8*i+8], data[o-(edge-2*cs):][:8]) {
				t.Fatalf("edge %#x: Gather value %d at %#x: wrong bytes", edge, i, o)
			}
		}
		// Atomics: aligned ones work, misaligned are refused.
		if err := m.StoreUint64(edge, 0x0102030405060708); err != nil {
			t.Fatalf("edge %#x: StoreUint64: %v", edge, err)
		}
		if x, err := m.AddUint64(edge, 1); err != nil || x != 0x0102030405060709 {
			t.Fatalf("edge %#x: AddUint64: %#x, %v", edge, x, err)
		}
		if x, err := m.LoadUint32(edge + 4); err != nil || x != 0x01020304 {
			t.Fatalf("edge %#x: LoadUint32: %#x, %v", edge, x, err)
		}
		for _, o := range []int64{edge - 4, edge + 4, edge + 1, edge - 1} {
			if _, err := m.LoadUint64(o); !errors.Is(err, chunkmap.ErrUnaligned) {
				t.Errorf("edge %#x: LoadUint64(%#x): %v, want ErrUnaligned", edge, o, err)
			}
			if _, err := m.AddUint64(o, 1); !errors.Is(err, chunkmap.ErrUnaligned) {
				t.Errorf("edge %#x: AddUint64(%#x): %v, want ErrUnaligned", edge, o, err)
			}
			if _, err := m.CompareAndSwapUint64(o, 0, 1); !errors.Is(err, chunkmap.ErrUnaligned) {
				t.Errorf("edge %#x: CompareAndSwapUint64(%#x): %v, want ErrUnaligned", edge, o, err)
			}
		}
		if err := m.StoreUint32(edge+2, 1); !errors.Is(err, chunkmap.ErrUnaligned) {
			t.Errorf("edge %#x: StoreUint32 misaligned: %v", edge, err)
		}
		// Below Start and past Size.
		if _, err := m.ReadAt(make([]byte, 1), edge-2*cs-1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("edge %#x: ReadAt below start: %v", edge, err)
		}
		if _, err := m.Pin(edge, math.MaxInt32); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("edge %#x: Pin MaxInt32 past Size: %v", edge, err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("edge %#x: Close: %v", edge, err)
		}
	}
}

// TestBounds32_NearMaxInt64 puts the dataset against the largest offset: every
// length that would overflow is refused with ErrOutOfRange, never a panic
// or a wrapped slice.
func TestBounds32_NearMaxInt64(t *testing.T) {
	const cs = 64 << 10
	start := int64(math.MaxInt64) &^ (cs - 1) // the last whole chunk
	start -= cs
	m := h5Open(t, &chunkmap.Options{ChunkSize: cs, Start: start})
	if _, err := m.Append(h5Fill(start, cs)); err != nil {
		t.Fatalf("Append: %v", err)
	}
	// The dataset ends at start+cs; one more chunk reaches MaxInt64-cs+1.
	n, err := m.WriteAt([]byte{1, 2, 3}, start+2*cs-3)
	t.Logf("WriteAt at the last chunk: %d, %v", n, err)
	if err != nil {
		h5Sentinel(t, "WriteAt at the last chunk", err)
	}
	if _, err := m.WriteAt([]byte{1}, math.MaxInt64); err == nil {
		t.Errorf("WriteAt at MaxInt64: no error")
	} else {
		h5Sentinel(t, "WriteAt at MaxInt64", err)
	}
	if _, err := m.Append(make([]byte, cs)); err == nil {
		t.Logf("Append of a chunk at %d succeeded; Size %d", start+cs, m.Size())
	} else {
		h5Sentinel(t, "Append at the top", err)
	}
	if err := m.Grow(math.MaxInt64); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("Grow(MaxInt64): %v", err)
	}
	if err := m.Truncate(math.MaxInt64); err == nil {
		t.Logf("Truncate(MaxInt64) succeeded")
	} else {
		h5Sentinel(t, "Truncate(MaxInt64)", err)
	}
	for _, o := range []int64{start, math.MaxInt64 - 8, math.MaxInt64 - 7, math.MaxInt64} {
		if _, err := m.Pin(o, math.MaxInt32); err == nil {
			t.Errorf("Pin(%d, MaxInt32): no error", o)
		} else {
			h5Sentinel(t, "Pin", err)
		}
		if _, err := m.LoadUint64(o); err != nil {
			h5Sentinel(t, "LoadUint64", err)
		}
		if err := m.Gather(make([]byte, 8), []int64{o}, 8); err != nil {
			h5Sentinel(t, "Gather", err)
		}
		err := m.Batch(func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(o, math.MaxInt32); err == nil {
				t.Errorf("Batch.Bytes(%d, MaxInt32): no error", o)
			} else {
				h5Sentinel(t, "Batch.Bytes", err)
			}
			if err := b.Hold(o, math.MaxInt64); err == nil {
				t.Errorf("Batch.Hold(%d, MaxInt64): no error", o)
			} else {
				h5Sentinel(t, "Batch.Hold", err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("Batch: %v", err)
		}
	}
}

// TestBounds32_SparseHuge grows a dataset of 64 MiB chunks past 4 GiB with holes,
// then reads and writes far into it, and asks for ranges longer than the
// arena, longer than a 32-bit address space can map, and near MaxInt32.
func TestBounds32_SparseHuge(t *testing.T) {
	keepHolesOnTmpfs(t)
	const cs = 64 << 20
	m := h5Open(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	const size = 5<<30 + 12345
	// The Manager refuses growth by more chunks than the file system has
	// room for, holes or not (see growLocked).
	if free, err := chunkmap.FreeSpace(m); err == nil && free < size+cs {
		t.Skipf("the file system of TMPDIR has %d bytes free, and growth to %d bytes in chunks of %d needs %d", free, int64(size), cs, int64(size+cs))
	}
	if err := m.Truncate(size); err != nil {
		t.Fatalf("Truncate(%d): %v", int64(size), err)
	}
	if m.Size() != size {
		t.Fatalf("Size %d after Truncate(%d)", m.Size(), int64(size))
	}
	far := []int64{1<<31 - 4, 1<<32 - 4, 1<<32 + 3, size - 9}
	for _, o := range far {
		w := h5Fill(o, 9)
		if n, err := m.WriteAt(w, o); n != 9 || err != nil {
			t.Fatalf("WriteAt(%#x): %d, %v", o, n, err)
		}
	}
	check := func(what string, o int64, got []byte) {
		t.Helper()
		for i, c := range got {
			off := o + int64(i)
			want := byte(0)
			for _, f := range far {
				if off >= f && off < f+9 {
					want = h5Pattern(off)
				}
			}
			if c != want {
				t.Fatalf("%s: byte at %#x is %#x, want %#x", what, off, c, want)
			}
		}
	}
	for _, o := range far {
		got := make([]byte, 32)
		rd := o - 8
		n, err := m.ReadAt(got, rd)
		if err != nil && !(rd+32 > size && n == int(size-rd)) {
			t.Fatalf("ReadAt(%#x): %d, %v", rd, n, err)
		}
		check("ReadAt", rd, got[:n])
	}
	// Gather at offsets beyond 2^32.
	offs := []int64{1<<32 + 3, 1<<31 - 4, size - 9, 1<<32 + 8 + 1<<30}
	dst := make([]byte, 9*len(offs))
	if err := m.Gather(dst, offs, 9); err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for i, o := range offs {
		check("Gather", o, dst[9*i:9*i+9])
	}
	// A pin longer than the arena: a private view, or a refusal with a
	// sentinel where the address space cannot hold it.
	for _, r := range [][2]int64{
		{1<<32 - 4 - 3*cs, 4*cs + 4}, // 5 chunks
		{1<<31 - 4 - 1<<28, 1 << 28}, // 256 MiB, the whole 32-bit arena
		{0, 1 << 30},
		{1<<32 - 1<<30, math.MaxInt32},
		{1, math.MaxInt32},
		{size - math.MaxInt32, math.MaxInt32},
	} {
		if int64(int(r[1])) != r[1] {
			continue
		}
		p, err := m.Pin(r[0], int(r[1]))
		if err != nil {
			t.Logf("Pin(%#x, %#x): %v", r[0], r[1], err)
			h5Sentinel(t, "Pin", err)
			continue
		}
		b := p.Bytes()
		if len(b) != int(r[1]) {
			t.Fatalf("Pin(%#x, %#x): %d bytes", r[0], r[1], len(b))
		}
		for _, f := range far {
			if f >= r[0] && f+9 <= r[0]+r[1] {
				check("Pin", f, b[f-r[0]:][:9])
			}
		}
		check("Pin head", r[0], b[:min(len(b), 16)])
		check("Pin tail", r[0]+r[1]-16, b[len(b)-16:])
		p.Release()
		st := m.Stats()
		if st.Mapped > 2+st.Pinned {
			t.Errorf("after Pin release: Stats %+v", st)
		}
	}
	err := m.Batch(func(b *chunkmap.Batch) error {
		for _, r := range [][2]int64{{1<<32 - 4 - 3*cs, 4*cs + 4}, {1, math.MaxInt32}, {0, 1 << 30}} {
			p, err := b.Bytes(r[0], int(r[1]))
			if err != nil {
				t.Logf("Batch.Bytes(%#x, %#x): %v", r[0], r[1], err)
				h5Sentinel(t, "Batch.Bytes", err)
				continue
			}
			if len(p) != int(r[1]) {
				t.Fatalf("Batch.Bytes(%#x, %#x): %d bytes", r[0], r[1], len(p))
			}
			for _, f := range far {
				if f >= r[0] && f+9 <= r[0]+r[1] {
					check("Batch.Bytes", f, p[f-r[0]:][:9])
				}
			}
		}
		if err := b.Hold(0, size); err != nil {
			t.Logf("Batch.Hold(0, %d): %v", int64(size), err)
			h5Sentinel(t, "Batch.Hold", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	// Shrink below 4 GiB and grow again: the far bytes read as zeros.
	if err := m.Truncate(1<<32 - 2); err != nil {
		t.Fatalf("Truncate down: %v", err)
	}
	if err := m.Truncate(size); err != nil {
		t.Fatalf("Truncate up: %v", err)
	}
	got := make([]byte, 9)
	if _, err := m.ReadAt(got, 1<<32+3); err != nil || !bytes.Equal(got, make([]byte, 9)) {
		t.Fatalf("ReadAt after shrink and regrow: %x, %v", got, err)
	}
	if _, err := m.ReadAt(got[:2], 1<<32-4); err != nil || !bytes.Equal(got[:2], h5Fill(1<<32-4, 2)) {
		t.Fatalf("ReadAt below the cut: %x, %v", got[:2], err)
	}
	st := m.Stats()
	t.Logf("stats %+v", st)
	if st.Mapped > 2+st.Pinned {
		t.Errorf("Stats %+v: Mapped > MaxMapped + Pinned", st)
	}
}

// TestBounds32_Options32 checks the options that bound a 32-bit address space.
func TestBounds32_Options32(t *testing.T) {
	// Size is taken to 4 GiB by a Truncate: as holes, even on tmpfs,
	// where the Manager would allocate them and a TMPDIR smaller than
	// that fails the test with ErrNoSpace.
	keepHolesOnTmpfs(t)
	is32 := bits.UintSize == 32
	cases := []struct {
		o     chunkmap.Options
		bad32 bool
	}{
		{chunkmap.Options{ChunkSize: 1 << 30, MaxMapped: 1}, false},
		{chunkmap.Options{ChunkSize: 1 << 30, MaxMapped: 2}, true},
		{chunkmap.Options{ChunkSize: 1 << 30}, false},
		{chunkmap.Options{ChunkSize: 2 << 30, MaxMapped: 1}, true},
		{chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: 1 << 14}, false},
		{chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: 1<<14 + 1}, true},
		{chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: math.MaxInt32}, true},
		{chunkmap.Options{ChunkSize: 512 << 20, MaxMapped: 2, ArenaSize: math.MaxInt64}, false},
		{chunkmap.Options{ChunkSize: 64 << 10, ArenaSize: math.MaxInt64}, false},
		{chunkmap.Options{ChunkSize: 64 << 10, ArenaSize: 3 << 30}, false},
		{chunkmap.Options{ChunkSize: 64 << 10, ArenaSize: 1}, false},
		{chunkmap.Options{ChunkSize: 1 << 30, ArenaSize: 3 << 30, MaxMapped: 1}, false},
	}
	for _, c := range cases {
		m, err := chunkmap.Open(t.TempDir(), &c.o)
		if is32 && c.bad32 || !is32 && c.o.ChunkSize > 2<<30 {
			if !errors.Is(err, chunkmap.ErrInvalidOptions) {
				t.Errorf("Open(%+v): %v, want ErrInvalidOptions", c.o, err)
			}
			if err == nil {
				m.Close()
			}
			continue
		}
		if err != nil && is32 && c.o.ChunkSize >= 512<<20 && errors.Is(err, chunkmap.ErrIO) {
			// The arena and as much again for the rest of the program
			// did not fit the process's address space, which earlier
			// tests of this process may have cut up: documented.
			t.Logf("Open(%+v): %v", c.o, err)
			continue
		}
		if err != nil {
			t.Errorf("Open(%+v): %v", c.o, err)
			continue
		}
		// Use it a little: two chunks, read back.
		cs := m.ChunkSize()
		if err := m.Truncate(2 * cs); err != nil {
			t.Errorf("Open(%+v): Truncate: %v", c.o, err)
		}
		for _, o := range []int64{0, cs - 1, cs, 2*cs - 1} {
			if _, err := m.WriteAt([]byte{h5Pattern(o)}, o); err != nil {
				t.Errorf("Open(%+v): WriteAt(%d): %v", c.o, o, err)
			}
		}
		p, err := m.Pin(cs-1, 2)
		if err != nil {
			t.Errorf("Open(%+v): Pin across: %v", c.o, err)
		} else {
			if !bytes.Equal(p.Bytes(), []byte{h5Pattern(cs - 1), h5Pattern(cs)}) {
				t.Errorf("Open(%+v): Pin across: %x", c.o, p.Bytes())
			}
			p.Release()
		}
		if err := m.Close(); err != nil {
			t.Errorf("Open(%+v): Close: %v", c.o, err)
		}
	}
}

// TestBounds32_StatsBound runs pins, batches, atomics, reads and writes on
// goroutines over a dataset of many chunks, with MaxMapped 1 and an arena
// of 4 slots (so slots change owner all the time), and checks on every
// Stats that Mapped <= MaxMapped + Pinned, the documented instant aside:
// a sample over the bound must not stay over it once the workers stop.
func TestBounds32_StatsBound(t *testing.T) {
	seed := testSeed(t, "BOUNDS32_SEED")
	const cs = 64 << 10
	const nchunks = 40
	m := h5Open(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 4 * cs})
	if err := m.Truncate(nchunks * cs); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var over atomic.Int64
	worker := func(id int) {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, uint64(id)))
		var held []*chunkmap.Pinned
		defer func() {
			for _, p := range held {
				p.Release()
			}
		}()
		for !stop.Load() {
			off := r.Int64N(nchunks*cs - 16)
			switch r.IntN(7) {
			case 0:
				n := 1 + r.IntN(3*cs)
				if off+int64(n) > nchunks*cs {
					n = int(nchunks*cs - off)
				}
				p, err := m.Pin(off, n)
				if err != nil {
					t.Errorf("Pin(%d, %d): %v", off, n, err)
					return
				}
				held = append(held, p)
				if len(held) > 3 {
					held[0].Release()
					held = held[1:]
				}
			case 1:
				err := m.Batch(func(b *chunkmap.Batch) error {
					for range 4 {
						o := r.Int64N(nchunks*cs - 16)
						if _, err := b.Bytes(o, 16); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Errorf("Batch: %v", err)
					return
				}
			case 2:
				if _, err := m.AddUint64(off&^7, 1); err != nil {
					t.Errorf("AddUint64: %v", err)
					return
				}
			case 3:
				if _, err := m.ReadAt(make([]byte, 16), off); err != nil {
					t.Errorf("ReadAt: %v", err)
					return
				}
			case 4:
				offs := []int64{off, r.Int64N(nchunks*cs - 8), r.Int64N(nchunks*cs - 8)}
				if err := m.Gather(make([]byte, 24), offs, 8); err != nil {
					t.Errorf("Gather: %v", err)
					return
				}
			case 5:
				if _, err := m.WriteAt([]byte{1, 2, 3}, off); err != nil {
					t.Errorf("WriteAt: %v", err)
					return
				}
			case 6:
				if len(held) > 0 {
					held[len(held)-1].Release()
					held = held[:len(held)-1]
				}
			}
		}
	}
	for id := range 3 {
		wg.Add(1)
		go worker(id)
	}
	deadline := time.Now().Add(700 * time.Millisecond)
	samples := 0
	for time.Now().Before(deadline) {
		st := m.Stats()
		samples++
		if st.Mapped > 1+st.Pinned {
			over.Add(1)
		}
		if st.Pinned > st.Mapped {
			t.Errorf("Stats %+v: Pinned > Mapped", st)
		}
		time.Sleep(100 * time.Microsecond)
	}
	stop.Store(true)
	wg.Wait()
	st := m.Stats()
	t.Logf("%d samples, %d over the bound for an instant; final %+v", samples, over.Load(), st)
	if st.Mapped > 1 || st.Pinned != 0 {
		t.Errorf("with every worker done, Stats %+v: Mapped > MaxMapped or Pinned", st)
	}
	if over.Load()*10 > int64(samples) {
		t.Errorf("%d of %d samples had Mapped > MaxMapped + Pinned", over.Load(), samples)
	}
}

// TestBounds32_FarValues: Gather and Scatter of values up to MinChunkSize bytes
// that straddle chunk boundaries past 4 GiB, concurrent 64-bit atomics
// there (CMPXCHG8B on 386), and DropBefore past 4 GiB.
func TestBounds32_FarValues(t *testing.T) {
	seed := testSeed(t, "BOUNDS32_SEED")
	r := rand.New(rand.NewPCG(seed, 5))
	const cs = 64 << 10
	base := int64(1<<32 - 3*cs)
	m := h5Open(t, &chunkmap.Options{ChunkSize: cs, Start: base, MaxMapped: 1, ArenaSize: 2 * cs})
	const nch = 8
	model := h5Fill(base, nch*cs)
	if _, err := m.Append(model); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		n := 1 + r.IntN(cs)
		if r.IntN(3) == 0 {
			n = []int{1, 8, cs, cs - 1, 4096}[r.IntN(5)]
		}
		k := 1 + r.IntN(5)
		offs := make([]int64, k)
		for i := range offs {
			offs[i] = base + r.Int64N(nch*cs-int64(n)+1)
		}
		if r.IntN(2) == 0 {
			src := make([]byte, k*n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			if err := m.Scatter(src, offs, n); err != nil {
				t.Fatalf("Scatter(n %d, offs %v): %v", n, offs, err)
			}
			for i, o := range offs {
				copy(model[o-base:], src[i*n:(i+1)*n])
			}
		} else {
			dst := make([]byte, k*n)
			if err := m.Gather(dst, offs, n); err != nil {
				t.Fatalf("Gather(n %d, offs %v): %v", n, offs, err)
			}
			for i, o := range offs {
				if !bytes.Equal(dst[i*n:(i+1)*n], model[o-base:][:n]) {
					t.Fatalf("Gather(n %d) value %d at %#x: wrong bytes", n, i, o)
				}
			}
		}
	}
	// Concurrent atomics on both sides of 4 GiB, in chunks sharing slots.
	words := []int64{1<<32 - 8, 1 << 32, 1<<32 + cs, 1<<32 - 2*cs}
	for _, w := range words {
		if err := m.StoreUint64(w, 1<<32-1); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	const per = 2000
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				w := words[(g+i)%len(words)]
				if _, err := m.AddUint64(w, 1); err != nil {
					t.Errorf("AddUint64(%#x): %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, w := range words {
		x, err := m.LoadUint64(w)
		if err != nil || x != 1<<32-1+per {
			t.Errorf("LoadUint64(%#x) = %#x, %v; want %#x", w, x, err, uint64(1<<32-1+per))
		}
	}
	// DropBefore past 4 GiB.
	if err := m.DropBefore(1<<32 + cs); err != nil {
		t.Fatalf("DropBefore: %v", err)
	}
	if _, err := m.Pin(1<<32, 8); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("Pin below the new Start: %v", err)
	}
	x, err := m.LoadUint64(1<<32 + cs)
	if err != nil || x != 1<<32-1+per {
		t.Errorf("LoadUint64 after DropBefore = %#x, %v", x, err)
	}
}

// TestBounds32_FollowerPastFourGiB: a ReadOnly Manager following a writer
// whose chunks lie around 4 GiB reads, loads, pins across 2^32 and
// gathers there, and sees the writer's Truncate.
func TestBounds32_FollowerPastFourGiB(t *testing.T) {
	const cs = 64 << 10
	dir := t.TempDir()
	base := int64(1<<32 - 2*cs)
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, Start: base, MaxMapped: 1, ArenaSize: 2 * cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	data := h5Fill(base, 4*cs)
	if _, err := w.Append(data); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1, ArenaSize: 2 * cs})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, 4*cs)
	if n, err := r.ReadAt(got, base); n != len(got) || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("follower ReadAt: %d, %v", n, err)
	}
	if err := w.StoreUint64(1<<32, 42); err != nil {
		t.Fatal(err)
	}
	if x, err := r.LoadUint64(1 << 32); x != 42 || err != nil {
		t.Fatalf("follower LoadUint64: %d, %v", x, err)
	}
	if _, err := w.Append(h5Fill(base+4*cs, 8)); err != nil {
		t.Fatal(err)
	}
	if x, err := r.LoadUint64(base + 4*cs); err != nil || x == 0 {
		t.Fatalf("follower LoadUint64 of appended: %#x, %v", x, err)
	}
	p, err := r.Pin(1<<32-4, 8)
	if err != nil {
		t.Fatalf("follower Pin across 4 GiB: %v", err)
	}
	if !bytes.Equal(p.Bytes()[:4], data[2*cs-4:2*cs]) {
		t.Fatalf("follower Pin: wrong bytes")
	}
	p.Release()
	if err := w.Truncate(1<<32 + 4); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LoadUint64(1 << 32); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Fatalf("follower LoadUint64 past the cut: %v, want ErrOutOfRange", err)
	}
	dst := make([]byte, 8)
	if err := r.Gather(dst, []int64{1<<32 - 8}, 8); err != nil || !bytes.Equal(dst, data[2*cs-8:2*cs]) {
		t.Fatalf("follower Gather: %x %v", dst, err)
	}
}

// TestBounds32_DatasetChunkSize opens a dataset of the largest chunks
// (2 GiB, which a 64-bit process makes), read-write and read-only. A 64-bit
// process opens it; a 32-bit one cannot map such a chunk and refuses it
// with ErrInvalidOptions, saying so, and not as damage (ErrCorrupt): both
// records are intact, and the dataset is left as it was.
func TestBounds32_DatasetChunkSize(t *testing.T) {
	const big = chunkmap.MaxChunkSize
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// An empty dataset needs no chunk file: give both records the
	// largest chunk size.
	editManifestFile(t, dir, func(b []byte) {
		for slot := range 2 {
			if r := recordIn(b, slot); parseRecord(r).valid() {
				binary.LittleEndian.PutUint64(r[16:], big)
				resealRecord(r)
			}
		}
	})
	before := readManifestFile(t, dir)
	for _, ro := range []bool{false, true} {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: ro})
		if bits.UintSize == 64 {
			if err != nil {
				t.Fatalf("Open(ReadOnly %v): %v", ro, err)
			}
			if got := m.ChunkSize(); got != big {
				t.Errorf("Open(ReadOnly %v): ChunkSize %d, want %d", ro, got, int64(big))
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err == nil {
			m.Close()
			t.Fatalf("Open(ReadOnly %v) of a dataset of %d-byte chunks in a 32-bit process succeeded", ro, int64(big))
		}
		if !errors.Is(err, chunkmap.ErrInvalidOptions) || errors.Is(err, chunkmap.ErrCorrupt) {
			t.Errorf("Open(ReadOnly %v): %v; want ErrInvalidOptions, not ErrCorrupt", ro, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "2147483648") || !strings.Contains(msg, "32-bit") || strings.Contains(msg, "damaged") {
			t.Errorf("Open(ReadOnly %v): message %q does not say that the chunk size does not fit a 32-bit process", ro, msg)
		}
		if !bytes.Equal(readManifestFile(t, dir), before) {
			t.Errorf("Open(ReadOnly %v) changed the manifest", ro)
		}
	}
}
