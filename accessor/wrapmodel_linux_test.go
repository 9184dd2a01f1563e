package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// wmSentinels are the root package's errors every failure must match.
var wmSentinels = []error{
	chunkmap.ErrOutOfRange, chunkmap.ErrClosed, chunkmap.ErrReadOnly,
	chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrNoSpace, chunkmap.ErrBusy,
}

// wmWorld is the model the wrap test checks the dataset against: the
// dataset's bytes from offset 0 (each goroutine stores only to the bytes
// it owns), and Size, which only the tail's owner changes.
type wmWorld struct {
	t    *testing.T
	m    *chunkmap.Manager
	accs []*accessor.ViewAccessor
	encs []binary.ByteOrder
	mdl  []byte
	mu   sync.Mutex // guards size for the checker
	size int64
	fail func(format string, args ...any)
}

// check fails on any error (no operation here may fail), naming the
// operation, and says so of one that matches no sentinel.
func (w *wmWorld) check(what string, err error) bool {
	if err == nil {
		return true
	}
	for _, s := range wmSentinels {
		if errors.Is(err, s) {
			w.fail("%s: %v", what, err)
			return false
		}
	}
	w.fail("%s: error matching no sentinel: %v", what, err)
	return false
}

// same compares got with the model's bytes at off.
func (w *wmWorld) same(what string, off int64, got []byte) bool {
	want := w.mdl[off : off+int64(len(got))]
	if bytes.Equal(got, want) {
		return true
	}
	i := 0
	for i < len(got) && got[i] == want[i] {
		i++
	}
	w.fail("%s: %d bytes at %d (chunk %d+%d): first difference at %d (chunk %d+%d): got %x, want %x",
		what, len(got), off, off/advCS, off%advCS, off+int64(i), (off+int64(i))/advCS, (off+int64(i))%advCS,
		got[i:min(len(got), i+16)], want[i:min(len(want), i+16)])
	return false
}

// region runs n random operations on [lo, hi), which the caller owns.
func (w *wmWorld) region(r *rand.Rand, lo, hi int64, n int) {
	m := w.m
	for range n {
		k := r.IntN(len(w.accs))
		va, enc := w.accs[k], w.encs[k]
		span := hi - lo
		sz := []int64{1, 2, 4, 8}[r.IntN(4)]
		off := lo + r.Int64N(span-sz+1)
		switch op := r.IntN(16); op {
		case 0: // WriteAt and ReadAt
			l := 1 + r.Int64N(span)
			o := lo + r.Int64N(span-l+1)
			p := make([]byte, l)
			for i := range p {
				p[i] = byte(r.Uint32())
			}
			if _, err := va.WriteAt(p, o); !w.check("WriteAt", err) {
				return
			}
			copy(w.mdl[o:], p)
			q := make([]byte, l)
			if _, err := va.ReadAt(q, o); !w.check("ReadAt", err) || !w.same("ReadAt", o, q) {
				return
			}
		case 1: // typed write then typed read
			x := r.Uint64()
			b := make([]byte, 8)
			var err error
			switch sz {
			case 1:
				err = va.WriteUint8(off, uint8(x))
				b[0] = uint8(x)
			case 2:
				if r.IntN(2) == 0 {
					err = va.WriteInt16(off, int16(x))
				} else {
					err = va.WriteUint16(off, uint16(x))
				}
				enc.PutUint16(b, uint16(x))
			case 4:
				switch r.IntN(3) {
				case 0:
					err = va.WriteUint32(off, uint32(x))
				case 1:
					err = va.WriteInt32(off, int32(x))
				case 2:
					err = va.WriteFloat32(off, math.Float32frombits(uint32(x)))
				}
				enc.PutUint32(b, uint32(x))
			case 8:
				switch r.IntN(3) {
				case 0:
					err = va.WriteUint64(off, x)
				case 1:
					err = va.WriteInt64(off, int64(x))
				case 2:
					err = va.WriteFloat64(off, math.Float64frombits(x))
				}
				enc.PutUint64(b, x)
			}
			if !w.check("typed write", err) {
				return
			}
			copy(w.mdl[off:off+sz], b[:sz])
			fallthrough
		case 2: // typed reads
			var got uint64
			var want uint64
			var err error
			b := w.mdl[off : off+sz]
			switch sz {
			case 1:
				var v uint8
				v, err = va.ReadUint8(off)
				got, want = uint64(v), uint64(b[0])
			case 2:
				var v int16
				v, err = va.ReadInt16(off)
				got, want = uint64(uint16(v)), uint64(enc.Uint16(b))
			case 4:
				var v float32
				v, err = va.ReadFloat32(off)
				got, want = uint64(math.Float32bits(v)), uint64(enc.Uint32(b))
			case 8:
				var v uint64
				v, err = va.ReadUint64(off)
				got, want = v, enc.Uint64(b)
			}
			if !w.check("typed read", err) {
				return
			}
			if got != want {
				w.fail("typed read of %d bytes at %d (chunk %d+%d): got %#x, want %#x", sz, off, off/advCS, off%advCS, got, want)
				return
			}
		case 3: // bulk uint32s and uint64s
			cnt := 1 + r.Int64N((span-8)/8)
			o := lo + r.Int64N(span-cnt*8+1)
			src := make([]uint64, cnt)
			for i := range src {
				src[i] = r.Uint64()
			}
			if r.IntN(2) == 0 {
				if !w.check("WriteUint64s", va.WriteUint64s(o, src)) {
					return
				}
				for i, x := range src {
					enc.PutUint64(w.mdl[o+int64(i)*8:], x)
				}
			}
			dst := make([]uint32, cnt*2)
			if !w.check("ReadUint32s", va.ReadUint32s(o, dst)) {
				return
			}
			for i, x := range dst {
				if want := enc.Uint32(w.mdl[o+int64(i)*4:]); x != want {
					w.fail("ReadUint32s at %d: value %d (offset %d): got %#x, want %#x", o, i, o+int64(i)*4, x, want)
					return
				}
			}
		case 4: // scatter and gather, distinct offsets
			cnt := 1 + r.IntN(32)
			offs := make([]int64, 0, cnt)
			src := make([]uint64, 0, cnt)
			used := map[int64]bool{}
			for range cnt {
				o := lo + r.Int64N(span/8)*8
				if used[o] || o+8 > hi {
					continue
				}
				used[o] = true
				offs = append(offs, o)
				src = append(src, r.Uint64())
			}
			if len(offs) == 0 {
				continue
			}
			if !w.check("WriteUint64sAt", va.WriteUint64sAt(offs, src)) {
				return
			}
			for i, o := range offs {
				enc.PutUint64(w.mdl[o:], src[i])
			}
			dst := make([]uint64, len(offs))
			if !w.check("ReadUint64sAt", va.ReadUint64sAt(offs, dst)) {
				return
			}
			for i, o := range offs {
				if want := enc.Uint64(w.mdl[o:]); dst[i] != want {
					w.fail("ReadUint64sAt offset %d: got %#x, want %#x", o, dst[i], want)
					return
				}
			}
			g := make([]byte, 4*len(offs))
			offs4 := make([]int64, len(offs))
			for i, o := range offs {
				offs4[i] = o + 2
			}
			if !w.check("Gather", m.Gather(g, offs4, 4)) {
				return
			}
			for i, o := range offs4 {
				if !w.same("Gather", o, g[i*4:i*4+4]) {
					return
				}
			}
		case 5: // atomics, at 8-aligned offsets
			o := (lo + 7) &^ 7
			o += r.Int64N((hi-o)/8) * 8
			if o+8 > hi {
				continue
			}
			x := r.Uint64()
			switch r.IntN(4) {
			case 0:
				if !w.check("StoreUint64", va.StoreUint64(o, x)) {
					return
				}
				binary.NativeEndian.PutUint64(w.mdl[o:], x)
			case 1:
				old := binary.NativeEndian.Uint64(w.mdl[o:])
				got, err := va.AddUint64(o, x)
				if !w.check("AddUint64", err) {
					return
				}
				if got != old+x {
					w.fail("AddUint64 at %d (chunk %d+%d): got %#x, want %#x", o, o/advCS, o%advCS, got, old+x)
					return
				}
				binary.NativeEndian.PutUint64(w.mdl[o:], got)
			case 2:
				old := binary.NativeEndian.Uint32(w.mdl[o+4:])
				ok, err := va.CompareAndSwapUint32(o+4, old, uint32(x))
				if !w.check("CompareAndSwapUint32", err) {
					return
				}
				if !ok {
					w.fail("CompareAndSwapUint32 at %d (chunk %d+%d) failed with the model's old value %#x", o+4, (o+4)/advCS, (o+4)%advCS, old)
					return
				}
				binary.NativeEndian.PutUint32(w.mdl[o+4:], uint32(x))
			case 3:
				got, err := va.LoadUint64(o)
				if !w.check("LoadUint64", err) {
					return
				}
				if want := binary.NativeEndian.Uint64(w.mdl[o:]); got != want {
					w.fail("LoadUint64 at %d (chunk %d+%d): got %#x, want %#x", o, o/advCS, o%advCS, got, want)
					return
				}
			}
		case 6, 7: // views and pins: read, store, read again
			l := 1 + r.Int64N(span)
			o := lo + r.Int64N(span-l+1)
			var b []byte
			var release func()
			if op == 6 {
				v, err := va.Slice(o, int(l))
				if !w.check("Slice", err) {
					return
				}
				b, release = v.Bytes(), v.Release
			} else {
				p, err := m.PinWritable(o, int(l))
				if !w.check("PinWritable", err) {
					return
				}
				b, release = p.Bytes(), p.Release
			}
			if !w.same("view", o, b) {
				release()
				return
			}
			for i := range 1 + r.IntN(8) {
				j := r.Int64N(l)
				b[j] = byte(i + int(j))
				w.mdl[o+j] = b[j]
			}
			q := make([]byte, l)
			if _, err := m.ReadAt(q, o); !w.check("ReadAt under a view", err) || !w.same("ReadAt under a view", o, q) {
				release()
				return
			}
			release()
		case 8: // typed scan, with an early break now and then
			cnt := int(span / 2)
			stop := r.IntN(cnt + 1)
			s := va.Scan()
			i := 0
			for o, x := range s.Uint16s(lo, cnt) {
				if i == stop {
					break
				}
				if want := enc.Uint16(w.mdl[o:]); o != lo+int64(2*i) || x != want {
					w.fail("scan Uint16s from %d: value %d at %d: got %#x, want %#x", lo, i, o, x, want)
					return
				}
				i++
			}
			if !w.check("scan Uint16s", s.Err()) {
				return
			}
		case 9: // iter.Pull2 over a typed scan, stopped early or run out
			cnt := int(span / 8)
			s := va.Scan()
			next, stop := iter.Pull2(s.Int64s(lo, cnt))
			quit := r.IntN(2) == 0
			for i := 0; ; i++ {
				o, x, ok := next()
				if !ok {
					break
				}
				if want := enc.Uint64(w.mdl[o:]); o != lo+int64(8*i) || uint64(x) != want {
					stop()
					w.fail("pulled Int64s from %d: value %d at %d: got %#x, want %#x", lo, i, o, x, want)
					return
				}
				if quit && i == cnt/2 {
					break
				}
			}
			if quit {
				stop()
			}
			if !w.check("pulled Int64s", s.Err()) {
				return
			}
		case 10: // block scan, ranged and pulled
			s := va.Scan()
			want := lo
			if r.IntN(2) == 0 {
				for o, b := range s.Blocks(lo, span) {
					if o != want || !w.same("Blocks", o, b) {
						if o != want {
							w.fail("Blocks from %d: block at %d, want %d", lo, o, want)
						}
						return
					}
					want += int64(len(b))
				}
			} else {
				next, stop := iter.Pull2(s.Blocks(lo, span))
				for {
					o, b, ok := next()
					if !ok {
						break
					}
					if o != want || !w.same("pulled Blocks", o, b) {
						stop()
						if o != want {
							w.fail("pulled Blocks from %d: block at %d, want %d", lo, o, want)
						}
						return
					}
					want += int64(len(b))
					if r.IntN(3) == 0 {
						break
					}
				}
				stop()
				want = hi
			}
			if !w.check("Blocks", s.Err()) {
				return
			}
			if want != hi {
				w.fail("Blocks from %d: ended at %d, want %d", lo, want, hi)
				return
			}
		case 11, 12: // the root Batch: Hold, Bytes, WritableBytes
			l := 1 + r.Int64N(span)
			o := lo + r.Int64N(span-l+1)
			err := m.Batch(func(b *chunkmap.Batch) error {
				if r.IntN(2) == 0 {
					if err := b.Hold(lo, span); err != nil {
						return err
					}
				}
				p, err := b.WritableBytes(o, int(l))
				if err != nil {
					return err
				}
				if !w.same("Batch.WritableBytes", o, p) {
					return nil
				}
				j := r.Int64N(l)
				p[j]++
				w.mdl[o+j] = p[j]
				for range 4 {
					l2 := 1 + r.Int64N(span)
					o2 := lo + r.Int64N(span-l2+1)
					q, err := b.Bytes(o2, int(l2))
					if err != nil {
						return err
					}
					if !w.same("Batch.Bytes", o2, q) {
						return nil
					}
				}
				return nil
			})
			if !w.check("Batch", err) {
				return
			}
		case 13, 14: // the accessor's Batch: typed reads and writes
			err := va.Batch(func(b *accessor.Batch) error {
				if r.IntN(2) == 0 {
					if err := b.HoldWritable(lo, span); err != nil {
						return err
					}
				}
				for range 16 {
					sz := []int64{1, 2, 4, 8}[r.IntN(4)]
					o := lo + r.Int64N(span-sz+1)
					x := r.Uint64()
					buf := make([]byte, 8)
					var err error
					switch sz {
					case 1:
						err = b.WriteInt8(o, int8(x))
						buf[0] = byte(x)
					case 2:
						err = b.WriteUint16(o, uint16(x))
						enc.PutUint16(buf, uint16(x))
					case 4:
						err = b.WriteInt32(o, int32(x))
						enc.PutUint32(buf, uint32(x))
					case 8:
						err = b.WriteFloat64(o, math.Float64frombits(x))
						enc.PutUint64(buf, x)
					}
					if err != nil {
						return err
					}
					copy(w.mdl[o:o+sz], buf[:sz])
					o = lo + r.Int64N(span-7)
					got, err := b.ReadUint64(o)
					if err != nil {
						return err
					}
					if want := enc.Uint64(w.mdl[o:]); got != want {
						return fmt.Errorf("batch ReadUint64 at %d (chunk %d+%d): got %#x, want %#x (no sentinel: a model mismatch)", o, o/advCS, o%advCS, got, want)
					}
				}
				return nil
			})
			if !w.check("accessor Batch", err) {
				return
			}
		case 15: // Scatter of bytes
			cnt := 1 + r.IntN(8)
			offs := make([]int64, 0, cnt)
			used := map[int64]bool{}
			for range cnt {
				o := lo + r.Int64N(span/3)*3
				if used[o] || o+3 > hi {
					continue
				}
				used[o] = true
				offs = append(offs, o)
			}
			src := make([]byte, 3*len(offs))
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			if !w.check("Scatter", m.Scatter(src, offs, 3)) {
				return
			}
			for i, o := range offs {
				copy(w.mdl[o:o+3], src[i*3:])
			}
		}
	}
}

// tail runs n random operations on [tailLo, Size): the dataset's end,
// which it alone grows and shrinks.
func (w *wmWorld) tail(r *rand.Rand, tailLo, maxSize int64, n int) {
	m := w.m
	for range n {
		w.mu.Lock()
		size := w.size
		w.mu.Unlock()
		var err error
		switch r.IntN(8) {
		case 0, 1: // shrink into a chunk, perhaps regrow
			ns := tailLo + r.Int64N(size-tailLo+1)
			if err = m.Truncate(ns); !w.check("Truncate", err) {
				return
			}
			clear(w.mdl[ns:])
			size = ns
			if r.IntN(2) == 0 {
				ns = tailLo + r.Int64N(maxSize-tailLo+1)
				if ns >= size {
					if err = m.Truncate(ns); !w.check("Truncate up", err) {
						return
					}
					size = ns
				}
			}
		case 2: // Append
			l := r.Int64N(min(maxSize-size, 3*advCS/2) + 1)
			p := make([]byte, l)
			for i := range p {
				p[i] = byte(r.Uint32()) | 1
			}
			pos, err := m.Append(p)
			if !w.check("Append", err) {
				return
			}
			if pos != size {
				w.fail("Append at Size %d returned %d", size, pos)
				return
			}
			copy(w.mdl[pos:], p)
			size += l
		case 3:
			if !w.check("Grow", m.Grow(r.Int64N(2*advCS))) {
				return
			}
		case 4:
			if !w.check("Sync", m.Sync()) {
				return
			}
		case 5, 6, 7: // the tail's bytes, by pins and reads that cross its chunks
			if size == tailLo {
				continue
			}
			l := 1 + r.Int64N(size-tailLo)
			o := tailLo + r.Int64N(size-tailLo-l+1)
			p, err := m.PinWritable(o, int(l))
			if !w.check("PinWritable tail", err) {
				return
			}
			if !w.same("tail pin", o, p.Bytes()) {
				p.Release()
				return
			}
			j := r.Int64N(l)
			p.Bytes()[j] ^= 0x5a
			w.mdl[o+j] ^= 0x5a
			p.Release()
			q := make([]byte, l)
			if _, err := m.ReadAt(q, o); !w.check("ReadAt tail", err) || !w.same("ReadAt tail", o, q) {
				return
			}
		}
		w.mu.Lock()
		w.size = size
		w.mu.Unlock()
		if got := m.Size(); got != size {
			w.fail("Size %d, model %d", got, size)
			return
		}
	}
}

// whole checks every byte of [Start, Size) by ReadAt, a pin, a block scan
// and a typed scan, and the mapped chunks against MaxMapped.
func (w *wmWorld) whole(maxMapped int) {
	m := w.m
	start, size := m.Start(), m.Size()
	if size != w.size {
		w.fail("Size %d, model %d", size, w.size)
		return
	}
	q := make([]byte, size-start)
	if _, err := m.ReadAt(q, start); !w.check("ReadAt all", err) || !w.same("ReadAt all", start, q) {
		return
	}
	p, err := m.Pin(start, int(size-start))
	if !w.check("Pin all", err) {
		return
	}
	ok := w.same("Pin all", start, p.Bytes())
	p.Release()
	if !ok {
		return
	}
	s := w.accs[0].Scan()
	want := start
	for o, b := range s.Blocks(start, size-start) {
		if o != want || !w.same("Blocks all", o, b) {
			return
		}
		want += int64(len(b))
	}
	if !w.check("Blocks all", s.Err()) {
		return
	}
	i := start
	for o, x := range s.Uint16s(start, int(size-start)/2) {
		if want := binary.LittleEndian.Uint16(w.mdl[i:]); o != i || x != want {
			w.fail("scan Uint16s: at %d (%d): got %#x, want %#x", o, i, x, want)
			return
		}
		i += 2
	}
	if !w.check("scan Uint16s", s.Err()) {
		return
	}
	if i != start+(size-start)&^1 {
		w.fail("scan Uint16s ended at %d, want %d", i, size)
	}
	st := m.Stats()
	if st.Pinned != 0 || st.Mapped > maxMapped {
		w.fail("with nothing held: Stats %+v, MaxMapped %d", st, maxMapped)
	}
	if n, _ := wrapMaps(w.t, m.Dir()); n != st.Mapped {
		w.fail("Stats %+v, but /proc/self/maps lists %d mappings of chunk files", st, n)
	}
}

// TestWrapModel drives many goroutines over one dataset whose arena has
// only a few slots, so that chunks share slots, views across the arena's
// end get private mappings and chunks whose slot another holds are served
// by pread or a view, and checks every byte against a model: each worker
// owns a range across a chunk boundary (some of them the arena's wrap
// point), one goroutine owns the dataset's end and grows and shrinks it,
// and between rounds the whole dataset is checked, and after Close no
// mapping of its files may be left.
func TestWrapModel(t *testing.T) {
	seed := testSeed(t, "WRAPMODEL_SEED")
	const (
		workers = 6
		chunks  = 12
		tailLo  = (workers + 3) * advCS // past every worker's range
		maxSize = 15 * advCS
	)
	rounds, ops := 4, 120
	if raceEnabled {
		rounds, ops = 2, 40
	}
	for _, tc := range []struct {
		slots, maxMapped int
		noAdmission      bool
	}{
		{1, 1, false},
		{2, 2, true},
		{4, 3, false},
	} {
		t.Run(fmt.Sprintf("slots=%d,maxMapped=%d,noAdmission=%v", tc.slots, tc.maxMapped, tc.noAdmission), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(tc.slots*10+tc.maxMapped)))
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: tc.maxMapped,
				ArenaSize: int64(tc.slots) * advCS, NoAdmission: tc.noAdmission})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var failMu sync.Mutex
			failed := false
			w := &wmWorld{t: t, m: m, mdl: make([]byte, maxSize), size: chunks * advCS}
			w.fail = func(format string, args ...any) {
				failMu.Lock()
				defer failMu.Unlock()
				failed = true
				t.Errorf(format, args...)
			}
			for _, o := range advOrders {
				w.accs = append(w.accs, accessor.New(m, o.order))
				w.encs = append(w.encs, o.enc)
			}
			if err := m.Truncate(w.size); err != nil {
				t.Fatal(err)
			}
			for round := range rounds {
				var wg sync.WaitGroup
				for g := range workers {
					b := int64(g+2) * advCS
					lo, hi := b-3000-r.Int64N(100), b+3000+r.Int64N(100)
					rg := rand.New(rand.NewPCG(r.Uint64(), uint64(g)))
					wg.Go(func() { w.region(rg, lo, hi, ops) })
				}
				rt := rand.New(rand.NewPCG(r.Uint64(), 99))
				wg.Go(func() { w.tail(rt, tailLo, maxSize, ops) })
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(60 * time.Second):
					t.Fatalf("round %d: hung", round)
				}
				if failed {
					return
				}
				w.whole(tc.maxMapped)
				if round == 0 {
					if err := m.DropBefore(advCS); err != nil {
						t.Fatalf("DropBefore: %v", err)
					}
					w.whole(tc.maxMapped)
				}
				if failed {
					return
				}
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if _, n := wrapMaps(t, dir); n != 0 {
				t.Fatalf("after Close, %d mappings of %s's files remain", n, dir)
			}
			m2, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: advCS, MaxMapped: 1, ArenaSize: 2 * advCS})
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			q := make([]byte, m2.Size()-m2.Start())
			if m2.Start() != advCS || m2.Size() != w.size {
				t.Fatalf("reopened: Start %d Size %d, want %d %d", m2.Start(), m2.Size(), advCS, w.size)
			}
			if _, err := m2.ReadAt(q, advCS); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(q, w.mdl[advCS:w.size]) {
				t.Fatal("reopened: bytes differ from the model")
			}
		})
	}
}
