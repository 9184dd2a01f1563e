package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/procself"
)

// whHeld is a pin or view the held-model test keeps open across other
// operations: the part of its range that no Truncate or DropBefore has
// taken away must show the model's bytes, whoever stored them and however
// (pwrite, another mapping of the chunk, a view).
type whHeld struct {
	off     int64
	b       []byte
	write   bool
	lo, hi  int64 // the part whose bytes are still the model's
	release func()
}

// whRun is one seeded run of the held-model test.
type whRun struct {
	t         *testing.T
	r         *rand.Rand
	m         *chunkmap.Manager
	va        *accessor.ViewAccessor
	fm        *chunkmap.Manager // a ReadOnly Manager following m, or nil
	scratch   bool
	md        []byte // the dataset's bytes from 0 to Size
	start     int64
	held      []*whHeld
	maxMapped int
	step      int
	cuts      []int64 // the Sizes each shrinking Truncate set, in order
	log       []string
}

func (w *whRun) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf("%d: ", w.step)+fmt.Sprintf(format, args...))
	if len(w.log) > 40 {
		w.log = w.log[1:]
	}
}

func (w *whRun) fatalf(format string, args ...any) {
	w.t.Helper()
	for _, l := range w.log {
		w.t.Log(l)
	}
	w.t.Fatalf("step %d: "+format, append([]any{w.step}, args...)...)
}

func (w *whRun) ok(what string, err error) {
	w.t.Helper()
	if err != nil {
		w.fatalf("%s: %v", what, err)
	}
}

func (w *whRun) same(what string, off int64, got []byte) {
	w.t.Helper()
	want := w.md[off : off+int64(len(got))]
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for got[i] == want[i] {
		i++
	}
	w.fatalf("%s: %d bytes at %d: byte %d (chunk %d+%d) is %#x, model %#x", what, len(got), off,
		off+int64(i), (off+int64(i))/advCS, (off+int64(i))%advCS, got[i], want[i])
}

// rng returns a random range within [Start, Size) of at most max bytes,
// biased to cross chunk boundaries.
func (w *whRun) rng(maxLen int64) (int64, int64) {
	size := int64(len(w.md))
	if size == w.start {
		return w.start, 0
	}
	l := 1 + w.r.Int64N(min(maxLen, size-w.start))
	var o int64
	if w.r.IntN(2) == 0 {
		// Around a boundary.
		b := (w.start/advCS + 1 + w.r.Int64N(size/advCS-w.start/advCS+1)) * advCS
		o = b - w.r.Int64N(l+1)
	} else {
		o = w.start + w.r.Int64N(size-w.start)
	}
	o = max(w.start, min(o, size-l))
	return o, l
}

// cut trims every held range to what lies below from: the bytes a
// Truncate keeps stay the model's, in a pin's mapping too.
func (w *whRun) cut(from int64) {
	for _, h := range w.held {
		h.hi = min(h.hi, from)
	}
}

// checkHeld compares what is still valid of every held range with the
// model.
func (w *whRun) checkHeld() {
	w.t.Helper()
	for i, h := range w.held {
		if h.lo < h.hi {
			w.same(fmt.Sprintf("held %d [%d,%d) (write %v)", i, h.lo, h.hi, h.write), h.lo, h.b[h.lo-h.off:h.hi-h.off])
		}
	}
}

func (w *whRun) fill(p []byte) {
	for i := range p {
		p[i] = byte(w.r.Uint32()) | 1
	}
}

// op runs one random operation and checks what it read, every held range
// and the mapped chunks (Stats against MaxMapped, and against the
// mappings /proc/self/maps lists). It also runs inside batches and between
// the blocks of a suspended scan, whose bytes must stay valid across it.
func (w *whRun) op() {
	w.t.Helper()
	m, r := w.m, w.r
	w.step++
	size := int64(len(w.md))
	switch r.IntN(16) {
	case 0: // hold a pin or a view
		o, l := w.rng(3 * advCS)
		if l == 0 {
			return
		}
		h := &whHeld{off: o, lo: o, hi: o + l}
		switch r.IntN(3) {
		case 0:
			p, err := m.Pin(o, int(l))
			w.ok("Pin", err)
			h.b, h.release = p.Bytes(), p.Release
		case 1:
			p, err := m.PinWritable(o, int(l))
			w.ok("PinWritable", err)
			h.b, h.release, h.write = p.Bytes(), p.Release, true
		case 2:
			v, err := w.va.Slice(o, int(l))
			w.ok("Slice", err)
			h.b, h.release, h.write = v.Bytes(), v.Release, true
		}
		w.logf("hold [%d,%d) write %v", o, o+l, h.write)
		w.same("new hold", o, h.b)
		w.held = append(w.held, h)
	case 1: // release one
		if len(w.held) == 0 {
			return
		}
		i := r.IntN(len(w.held))
		w.logf("release [%d,+%d)", w.held[i].off, len(w.held[i].b))
		w.held[i].release()
		w.held = append(w.held[:i], w.held[i+1:]...)
	case 2: // store through a valid writable hold
		for _, h := range w.held {
			if h.lo < h.hi && h.write {
				j := h.lo - h.off + r.Int64N(h.hi-h.lo)
				h.b[j] = byte(r.Uint32()) | 1
				w.md[h.off+j] = h.b[j]
				w.logf("store via hold at %d", h.off+j)
				break
			}
		}
	case 3: // WriteAt, perhaps past Size
		o, l := w.rng(2 * advCS)
		if r.IntN(4) == 0 {
			o = size + r.Int64N(advCS)
			l = 1 + r.Int64N(advCS)
		}
		if l == 0 {
			return
		}
		p := make([]byte, l)
		w.fill(p)
		w.logf("WriteAt [%d,%d)", o, o+l)
		_, err := w.va.WriteAt(p, o)
		w.ok("WriteAt", err)
		if o+l > size {
			w.md = append(w.md, make([]byte, o+l-size)...)
		}
		copy(w.md[o:], p)
	case 4: // ReadAt
		o, l := w.rng(3 * advCS)
		q := make([]byte, l)
		_, err := w.va.ReadAt(q, o)
		w.ok("ReadAt", err)
		w.same("ReadAt", o, q)
	case 5: // typed values across boundaries
		o, _ := w.rng(8)
		if o+8 > size {
			return
		}
		x := r.Uint64()
		w.logf("WriteUint64 at %d", o)
		w.ok("WriteUint64", w.va.WriteUint64(o, x))
		binary.LittleEndian.PutUint64(w.md[o:], x)
		o, _ = w.rng(8)
		if o+8 > size {
			return
		}
		got, err := w.va.ReadUint64(o)
		w.ok("ReadUint64", err)
		if want := binary.LittleEndian.Uint64(w.md[o:]); got != want {
			w.fatalf("ReadUint64 at %d (chunk %d+%d): %#x, model %#x", o, o/advCS, o%advCS, got, want)
		}
	case 6: // atomics
		o, _ := w.rng(8)
		o &^= 7
		if o < w.start || o+8 > size {
			return
		}
		old := binary.NativeEndian.Uint64(w.md[o:])
		got, err := w.va.AddUint64(o, 3)
		w.ok("AddUint64", err)
		if got != old+3 {
			w.fatalf("AddUint64 at %d (chunk %d+%d): %#x, model %#x", o, o/advCS, o%advCS, got, old+3)
		}
		w.logf("AddUint64 at %d", o)
		binary.NativeEndian.PutUint64(w.md[o:], got)
	case 7: // shrink into a chunk, then perhaps regrow
		ns := w.start + r.Int64N(size-w.start+1)
		w.logf("Truncate %d -> %d", size, ns)
		w.ok("Truncate", m.Truncate(ns))
		w.md = w.md[:ns]
		w.cut(ns)
		w.cuts = append(w.cuts, ns)
		if r.IntN(2) == 0 {
			ns2 := ns + r.Int64N(3*advCS)
			w.logf("Truncate up %d -> %d", ns, ns2)
			w.ok("Truncate up", m.Truncate(ns2))
			w.md = append(w.md, make([]byte, ns2-ns)...)
		}
	case 8: // Append
		p := make([]byte, r.Int64N(advCS))
		w.fill(p)
		pos, err := m.Append(p)
		w.ok("Append", err)
		if pos != size {
			w.fatalf("Append at Size %d returned %d", size, pos)
		}
		w.logf("Append [%d,%d)", pos, pos+int64(len(p)))
		w.md = append(w.md, p...)
	case 9: // Grow, Sync, now and then DropBefore
		switch r.IntN(6) {
		case 0:
			w.ok("Grow", m.Grow(r.Int64N(3*advCS)))
		case 1:
			w.ok("Sync", m.Sync())
		case 2:
			if w.start/advCS+2 < size/advCS && r.IntN(3) == 0 {
				w.start += advCS
				w.logf("DropBefore %d", w.start)
				w.ok("DropBefore", m.DropBefore(w.start))
				for _, h := range w.held {
					h.lo = max(h.lo, w.start)
				}
			}
		}
	case 10: // a batch with a few operations inside it
		w.batch()
	case 11: // a block scan, suspended across other operations
		w.pulledBlocks()
	case 12: // gather and scatter
		o, _ := w.rng(16)
		if o+8 > size {
			return
		}
		offs := []int64{o}
		for range 8 {
			o2, _ := w.rng(16)
			if o2+8 <= size && (o2+8 <= o || o2 >= o+8) {
				offs = append(offs, o2)
				break
			}
		}
		src := make([]uint64, len(offs))
		for i := range src {
			src[i] = r.Uint64()
		}
		w.ok("WriteUint64sAt", w.va.WriteUint64sAt(offs, src))
		for i, o := range offs {
			binary.LittleEndian.PutUint64(w.md[o:], src[i])
		}
		dst := make([]uint64, len(offs))
		w.ok("ReadUint64sAt", w.va.ReadUint64sAt(offs, dst))
		for i, o := range offs {
			if want := binary.LittleEndian.Uint64(w.md[o:]); dst[i] != want {
				w.fatalf("ReadUint64sAt at %d: %#x, model %#x", o, dst[i], want)
			}
		}
	case 13: // a typed scan with an early break
		o, l := w.rng(3 * advCS)
		s := w.va.Scan()
		i, stop := int64(0), r.Int64N(l/2+1)
		for off, x := range s.Uint16s(o, int(l/2)) {
			if i == stop {
				break
			}
			if want := binary.LittleEndian.Uint16(w.md[o+2*i:]); off != o+2*i || x != want {
				w.fatalf("scan Uint16s from %d: value %d at %d is %#x, model %#x", o, i, off, x, want)
			}
			i++
		}
		w.ok("scan", s.Err())
	case 14, 15: // the follower: reads, pins (some kept), batches, scans
		if w.fm != nil {
			w.follower()
		}
	}
	w.checkHeld()
	st := m.Stats()
	if st.Mapped > w.maxMapped+st.Pinned {
		w.fatalf("Stats: %+v, MaxMapped %d", st, w.maxMapped)
	}
	var fst chunkmap.Stats
	if w.fm != nil {
		fst = w.fm.Stats()
	}
	if fst.Mapped > w.maxMapped+fst.Pinned {
		w.fatalf("follower's Stats: %+v, MaxMapped %d", fst, w.maxMapped)
	}
	if n, _ := wrapMaps(w.t, m.Dir()); !w.scratch && n != st.Mapped+fst.Mapped {
		w.fatalf("Stats: %+v and the follower's %+v, but /proc/self/maps lists %d mappings of chunk files", st, fst, n)
	}
}

// follower reads through the ReadOnly Manager that follows m.
func (w *whRun) follower() {
	w.t.Helper()
	fm, r := w.fm, w.r
	o, l := w.rng(3 * advCS)
	if l == 0 {
		return
	}
	switch r.IntN(4) {
	case 0:
		q := make([]byte, l)
		_, err := fm.ReadAt(q, o)
		w.ok("follower ReadAt", err)
		w.same("follower ReadAt", o, q)
	case 1:
		p, err := fm.Pin(o, int(l))
		w.ok("follower Pin", err)
		w.same("follower Pin", o, p.Bytes())
		w.logf("follower hold [%d,%d)", o, o+l)
		w.held = append(w.held, &whHeld{off: o, b: p.Bytes(), lo: o, hi: o + l, release: p.Release})
	case 2:
		type got struct {
			off   int64
			b     []byte
			valid bool
		}
		var gots []*got
		err := fm.Batch(func(b *chunkmap.Batch) error {
			for range 4 {
				o, l := w.rng(2 * advCS)
				if l == 0 {
					continue
				}
				switch r.IntN(3) {
				case 0:
					if err := b.Hold(o, l); err != nil {
						return err
					}
				case 1:
					p, err := b.Bytes(o, int(l))
					if err != nil {
						return err
					}
					w.same("follower Batch.Bytes", o, p)
					w.logf("follower batch Bytes [%d,%d)", o, o+l)
					gots = append(gots, &got{o, p, true})
				case 2:
					// The writer acts between the follower's calls.
					ncuts, start := len(w.cuts), w.start
					w.op()
					for _, g := range gots {
						for _, cut := range w.cuts[ncuts:] {
							if g.off+int64(len(g.b)) > cut {
								g.valid = false
							}
						}
						if w.start != start {
							g.valid = false
						}
					}
				}
				for _, g := range gots {
					if g.valid {
						w.same("earlier follower Batch bytes", g.off, g.b)
					}
				}
			}
			return nil
		})
		w.ok("follower Batch", err)
	case 3:
		s := accessor.New(fm, nil).Scan()
		want := o
		for off, b := range s.Blocks(o, l) {
			if off != want {
				w.fatalf("follower Blocks from %d: block at %d, want %d", o, off, want)
			}
			w.same("follower block", off, b)
			want += int64(len(b))
		}
		w.ok("follower Blocks", s.Err())
	}
}

// batch runs a Batch whose function reads and writes through its bytes
// and runs other operations (structural ones too) between them.
func (w *whRun) batch() {
	w.t.Helper()
	m, r := w.m, w.r
	type got struct {
		off   int64
		b     []byte
		valid bool
	}
	var gots []*got
	w.logf("batch begins")
	defer w.logf("batch ends")
	err := m.Batch(func(b *chunkmap.Batch) error {
		for range 1 + r.IntN(6) {
			switch r.IntN(5) {
			case 0, 1:
				o, l := w.rng(2 * advCS)
				if l == 0 {
					continue
				}
				p, err := b.Bytes(o, int(l))
				if err != nil {
					return err
				}
				w.same("Batch.Bytes", o, p)
				w.logf("batch Bytes [%d,%d) at %p", o, o+l, &p[0])
				gots = append(gots, &got{o, p, true})
			case 2:
				o, l := w.rng(2 * advCS)
				if l == 0 {
					continue
				}
				p, err := b.WritableBytes(o, int(l))
				if err != nil {
					return err
				}
				w.same("Batch.WritableBytes", o, p)
				w.logf("batch WritableBytes [%d,%d) at %p", o, o+l, &p[0])
				j := r.Int64N(l)
				p[j] = byte(r.Uint32()) | 1
				w.md[o+j] = p[j]
				w.logf("batch store at %d", o+j)
				gots = append(gots, &got{o, p, true})
			case 3:
				o, l := w.rng(4 * advCS)
				if l == 0 {
					continue
				}
				w.logf("batch Hold [%d,%d)", o, o+l)
				if err := b.Hold(o, l); err != nil {
					return err
				}
			case 4:
				// Anything else, Truncate included, between the
				// batch's calls.
				ncuts := len(w.cuts)
				w.op()
				for _, cut := range w.cuts[ncuts:] {
					for _, g := range gots {
						if g.off+int64(len(g.b)) > cut {
							g.valid = false
						}
					}
				}
				for _, g := range gots {
					if g.off < w.start {
						g.valid = false
					}
				}
			}
			for _, g := range gots {
				if g.valid {
					w.same("earlier Batch bytes", g.off, g.b)
				}
			}
		}
		return nil
	})
	w.ok("Batch", err)
}

// pulledBlocks pulls a block scan a block at a time, with other operations
// between the blocks (the scan's Batch stays open meanwhile).
func (w *whRun) pulledBlocks() {
	w.t.Helper()
	o, l := w.rng(4 * advCS)
	if l == 0 {
		return
	}
	s := w.va.Scan()
	next, stop := iter.Pull2(s.Blocks(o, l))
	want := o
	for {
		off, b, ok := next()
		if !ok {
			break
		}
		if off != want {
			w.fatalf("pulled Blocks from %d: block at %d, want %d", o, off, want)
		}
		w.same("pulled block", off, b)
		want += int64(len(b))
		if w.r.IntN(3) == 0 {
			w.op()
		}
		if w.r.IntN(4) == 0 {
			break
		}
	}
	stop()
	if err := s.Err(); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
		w.fatalf("pulled Blocks: %v", err)
	}
}

// TestWrapHeld runs random operations on one dataset whose arena has few
// slots while pins, views, batches and suspended block scans stay open
// across them (Truncate, regrowth, DropBefore included), and checks every
// read, and every held range that nothing cut into, against a model.
func TestWrapHeld(t *testing.T) {
	seed := testSeed(t, "WRAPHELD_SEED")
	steps := 250
	if raceEnabled {
		steps = 120
	}
	for _, tc := range []struct {
		slots, maxMapped     int
		noAdmission, scratch bool
	}{
		{1, 1, false, false}, {2, 1, true, false}, {4, 3, false, false},
		{2, 3, true, false}, {2, 1, true, true}, {4, 2, false, true},
	} {
		t.Run(fmt.Sprintf("slots=%d,maxMapped=%d,noAdmission=%v,scratch=%v", tc.slots, tc.maxMapped, tc.noAdmission, tc.scratch), func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: tc.maxMapped,
				ArenaSize: int64(tc.slots) * advCS, NoAdmission: tc.noAdmission, Scratch: tc.scratch})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			w := &whRun{t: t, r: rand.New(rand.NewPCG(seed, uint64(tc.slots*10+tc.maxMapped))), m: m,
				va: accessor.New(m, nil), maxMapped: tc.maxMapped, scratch: tc.scratch}
			w.md = make([]byte, 6*advCS)
			w.ok("Truncate", m.Truncate(int64(len(w.md))))
			if !tc.scratch {
				w.fm, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: tc.maxMapped,
					ArenaSize: int64(tc.slots) * advCS, NoAdmission: tc.noAdmission, ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				defer w.fm.Close()
			}
			for range steps {
				w.op()
				if len(w.held) > 4 {
					w.held[0].release()
					w.held = w.held[1:]
				}
			}
			for _, h := range w.held {
				h.release()
			}
			w.held = nil
			if st := m.Stats(); st.Pinned != 0 || st.Mapped > tc.maxMapped {
				t.Errorf("all released: Stats %+v", st)
			}
			if w.fm != nil {
				if st := w.fm.Stats(); st.Pinned != 0 || st.Mapped > tc.maxMapped {
					t.Errorf("all released: the follower's Stats %+v", st)
				}
				if err := w.fm.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if _, n := wrapMaps(t, dir); n != 0 {
				t.Fatalf("after Close, %d mappings of %s's files remain", n, dir)
			}
		})
	}
}

// wrapMaps counts this process's mappings (lines of /proc/self/maps) of
// dir's chunk files, deleted ones included, and of any file of dir.
func wrapMaps(t *testing.T, dir string) (chunks, files int) {
	t.Helper()
	ms, err := procself.Maps()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasPrefix(m.Path, dir+"/") {
			files++
			if strings.HasSuffix(m.Path, ".chunk") {
				chunks++
			}
		}
	}
	return chunks, files
}
