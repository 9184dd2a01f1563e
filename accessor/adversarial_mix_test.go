package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// mixModel mirrors the bytes of a dataset from offset 0, and its Start.
type mixModel struct {
	b     []byte
	start int64
}

// put records p at off, extending the model with zeros as WriteAt does.
func (md *mixModel) put(off int64, p []byte) {
	if end := int(off) + len(p); end > len(md.b) {
		md.b = append(md.b, make([]byte, end-len(md.b))...)
	}
	copy(md.b[off:], p)
}

// in reports whether the n bytes at off lie within [Start, Size).
func (md *mixModel) in(off, n int64) bool {
	return off >= md.start && off+n <= int64(len(md.b))
}

// TestAdversarialMixModel runs random sequences of every kind of call of
// the accessor (typed, bulk, gather and scatter, typed Batch reads and
// writes with and without Hold, value and block scans, views written
// through, atomics) mixed with Truncate, DropBefore and reopening, on a
// dataset with one chunk mapped at most and an arena of 1 or 3 (rounded to
// 4) chunks, so that slots change owner all the time and values straddle
// chunks that are not side by side, in every byte order, with and without
// admission. After each call it checks the values, errors
// (ErrOutOfRange exactly where the model says), Size and Start against a
// model, and that nothing stays held or mapped past MaxMapped.
func TestAdversarialMixModel(t *testing.T) {
	seed := int64(testSeed(t, "ADV_MIX_SEED"))
	for _, arena := range []int64{1, 3} {
		for _, o := range advOrders {
			for _, noadm := range []bool{false, true} {
				name := fmt.Sprintf("arena=%d/%s/noadm=%v", arena, o.name, noadm)
				t.Run(name, func(t *testing.T) {
					mixRun(t, seed, arena, o.order, o.enc, noadm)
				})
			}
		}
	}
}

// mixRun runs one sequence from seed.
func mixRun(t *testing.T, seed, arena int64, order, enc binary.ByteOrder, noadm bool) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(arena)))
	dir := t.TempDir()
	opts := &chunkmap.Options{ChunkSize: advCS, MaxMapped: 1, ArenaSize: arena * advCS, NoAdmission: noadm}
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	va := accessor.New(m, order)
	md := &mixModel{}
	const maxSize = 6 * advCS
	ne := binary.NativeEndian
	randOff := func(n int64) int64 {
		switch rng.IntN(4) {
		case 0: // near a chunk boundary
			return int64(rng.IntN(7))*advCS + int64(rng.IntN(20)) - 10
		case 1: // near Size
			return int64(len(md.b)) - n + int64(rng.IntN(10)) - 5
		case 2: // near Start
			return md.start + int64(rng.IntN(10)) - 5
		}
		return rng.Int64N(maxSize)
	}
	check := func(what string, err error, want bool) {
		t.Helper()
		if want && err != nil {
			t.Fatalf("%s: %v (start %d size %d)", what, err, md.start, len(md.b))
		}
		if !want && err == nil {
			t.Fatalf("%s: nil error, want one (start %d size %d)", what, md.start, len(md.b))
		}
		if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Fatalf("%s: %v is not ErrOutOfRange", what, err)
		}
	}
	// The calls run on one goroutine, where the race detector, which
	// slows them about five times, has little to find: under it a third
	// of the steps run, and all of them without it.
	steps := 400
	if raceEnabled {
		steps = 130
	}
	for step := range steps {
		op := rng.IntN(14)
		switch op {
		case 0: // typed write
			ty := advTypes[rng.IntN(len(advTypes))]
			off := randOff(int64(ty.size))
			x := rng.Uint64()
			err := ty.write(va, off, x)
			ok := off >= md.start && off+int64(ty.size) <= maxSize+16
			if off < md.start {
				check(fmt.Sprintf("Write%s(%d)", ty.name, off), err, false)
			} else if ok {
				check(fmt.Sprintf("Write%s(%d)", ty.name, off), err, true)
				md.put(off, advEncode(enc, ty.size, x))
			} else if err == nil {
				md.put(off, advEncode(enc, ty.size, x))
			}
		case 1: // typed read
			ty := advTypes[rng.IntN(len(advTypes))]
			off := randOff(int64(ty.size))
			got, err := ty.read(va, off)
			in := md.in(off, int64(ty.size))
			check(fmt.Sprintf("Read%s(%d)", ty.name, off), err, in)
			if in {
				want := advMask(ty.size, mixDecode(enc, ty.size, md.b[off:]))
				if got != want {
					t.Fatalf("step %d Read%s(%d) = %#x want %#x", step, ty.name, off, got, want)
				}
			}
		case 2: // bulk write uint32s / uint64s
			k := rng.IntN(3000)
			off := randOff(int64(k * 8))
			if off < 0 || off < md.start || off+int64(k*8) > maxSize+advCS {
				continue
			}
			src := make([]uint64, k)
			for i := range src {
				src[i] = rng.Uint64()
			}
			if rng.IntN(2) == 0 {
				check("WriteUint64s", va.WriteUint64s(off, src), true)
				for i, x := range src {
					md.put(off+int64(8*i), advEncode(enc, 8, x))
				}
			} else {
				s32 := make([]uint32, k)
				for i := range s32 {
					s32[i] = uint32(src[i])
				}
				check("WriteUint32s", va.WriteUint32s(off, s32), true)
				for i, x := range s32 {
					md.put(off+int64(4*i), advEncode(enc, 4, uint64(x)))
				}
			}
		case 3: // bulk read
			k := rng.IntN(3000)
			off := randOff(int64(k * 2))
			dst := make([]uint16, k)
			err := va.ReadUint16s(off, dst)
			in := md.in(off, int64(2*k)) || (k == 0 && off >= md.start)
			if k == 0 {
				if err != nil && off >= 0 {
					t.Fatalf("ReadUint16s(%d, empty): %v", off, err)
				}
				continue
			}
			check(fmt.Sprintf("ReadUint16s(%d, %d)", off, k), err, in)
			if in {
				for i, x := range dst {
					if want := uint16(mixDecode(enc, 2, md.b[off+int64(2*i):])); x != want {
						t.Fatalf("ReadUint16s(%d)[%d] = %#x want %#x", off, i, x, want)
					}
				}
			}
		case 4: // gather / scatter
			k := rng.IntN(600)
			offs := make([]int64, k)
			vals := make([]uint64, k)
			allIn := true
			for i := range offs {
				offs[i] = randOff(8)
				if !md.in(offs[i], 8) {
					if rng.IntN(10) != 0 {
						offs[i] = md.start + rng.Int64N(max(1, int64(len(md.b))-md.start-8))
					}
				}
				if !md.in(offs[i], 8) {
					allIn = false
				}
				vals[i] = rng.Uint64()
			}
			if rng.IntN(2) == 0 {
				err := va.WriteUint64sAt(offs, vals)
				check("WriteUint64sAt", err, allIn)
				for i, off := range offs {
					if !md.in(off, 8) {
						break
					}
					md.put(off, advEncode(enc, 8, vals[i]))
				}
			} else {
				err := va.ReadUint64sAt(offs, vals)
				check("ReadUint64sAt", err, allIn)
				for i, off := range offs {
					if !md.in(off, 8) {
						break
					}
					if want := mixDecode(enc, 8, md.b[off:]); vals[i] != want {
						t.Fatalf("ReadUint64sAt[%d] off %d = %#x want %#x", i, off, vals[i], want)
					}
				}
			}
		case 5: // batch
			err := va.Batch(func(b *accessor.Batch) error {
				if rng.IntN(3) == 0 && len(md.b) > 0 {
					lo := md.start + rng.Int64N(int64(len(md.b))-md.start+1)
					n := rng.Int64N(int64(len(md.b)) - lo + 1)
					// Bytes' rules: a range of 0 bytes at Size has no
					// chunk to hold, and is out of range.
					in := lo < int64(len(md.b))
					if rng.IntN(2) == 0 {
						check("Hold", b.Hold(lo, n), in)
					} else {
						check("HoldWritable", b.HoldWritable(lo, n), in)
					}
				}
				for range 200 {
					ty := advTypes[rng.IntN(len(advTypes))]
					off := randOff(int64(ty.size))
					in := md.in(off, int64(ty.size))
					if rng.IntN(2) == 0 {
						x := rng.Uint64()
						err := ty.bw(b, off, x)
						check(fmt.Sprintf("Batch.Write%s(%d)", ty.name, off), err, in)
						if in {
							md.put(off, advEncode(enc, ty.size, x))
						}
					} else {
						got, err := ty.br(b, off)
						check(fmt.Sprintf("Batch.Read%s(%d)", ty.name, off), err, in)
						if in {
							want := advMask(ty.size, mixDecode(enc, ty.size, md.b[off:]))
							if got != want {
								t.Fatalf("step %d Batch.Read%s(%d) = %#x want %#x", step, ty.name, off, got, want)
							}
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		case 6: // scans
			if len(md.b) == 0 {
				continue
			}
			off := md.start + rng.Int64N(int64(len(md.b))-md.start+1)
			n := (int64(len(md.b)) - off) / 4
			if n > 0 {
				n = rng.Int64N(n + 1)
			}
			s := va.Scan()
			i := int64(0)
			for o, x := range s.Uint32s(off, int(n)) {
				if o != off+4*i {
					t.Fatalf("scan offset %d want %d", o, off+4*i)
				}
				if want := uint32(mixDecode(enc, 4, md.b[o:])); x != want {
					t.Fatalf("scan at %d = %#x want %#x", o, x, want)
				}
				i++
			}
			if s.Err() != nil || i != n {
				t.Fatalf("scan: %v, %d of %d", s.Err(), i, n)
			}
			nb := int64(len(md.b)) - off
			var got []byte
			for o, p := range s.Blocks(off, nb) {
				if o != off+int64(len(got)) {
					t.Fatalf("block at %d want %d", o, off+int64(len(got)))
				}
				got = append(got, p...)
			}
			if s.Err() != nil || !bytes.Equal(got, md.b[off:]) {
				t.Fatalf("blocks(%d, %d): %v, equal %v", off, nb, s.Err(), bytes.Equal(got, md.b[off:]))
			}
		case 7: // view
			if len(md.b) == 0 {
				continue
			}
			off := md.start + rng.Int64N(int64(len(md.b))-md.start+1)
			n := rng.Int64N(int64(len(md.b)) - off + 1)
			w, err := va.Slice(off, int(n))
			// Pin's rules: a range of 0 bytes at Size has no chunk to
			// pin, and is out of range.
			in := off < int64(len(md.b))
			check("Slice", err, in)
			if !in {
				continue
			}
			if !bytes.Equal(w.Bytes(), md.b[off:off+n]) {
				t.Fatalf("Slice(%d,%d) differs", off, n)
			}
			if n > 0 {
				i := rng.Int64N(n)
				w.Bytes()[i] ^= 0x5a
				md.b[off+i] ^= 0x5a
			}
			w.Release()
		case 8: // atomics
			if len(md.b) < 8 {
				continue
			}
			lo := (md.start + 7) &^ 7
			hi := int64(len(md.b)) - 8
			if hi < lo {
				continue
			}
			off := lo + rng.Int64N((hi-lo)/8+1)*8
			d := rng.Uint64()
			got, err := va.AddUint64(off, d)
			check("AddUint64", err, true)
			want := ne.Uint64(md.b[off:]) + d
			if got != want {
				t.Fatalf("AddUint64(%d) = %#x want %#x", off, got, want)
			}
			ne.PutUint64(md.b[off:], want)
			off4 := lo + rng.Int64N((hi-lo)/4+1)*4
			old := ne.Uint32(md.b[off4:])
			sw, err := va.CompareAndSwapUint32(off4, old, old+1)
			if err != nil || !sw {
				t.Fatalf("CAS32(%d): %v %v", off4, sw, err)
			}
			ne.PutUint32(md.b[off4:], old+1)
		case 9: // truncate
			size := rng.Int64N(maxSize)
			if size < md.start {
				continue
			}
			check("Truncate", m.Truncate(size), true)
			if int(size) < len(md.b) {
				md.b = md.b[:size]
			} else {
				md.b = append(md.b, make([]byte, int(size)-len(md.b))...)
			}
		case 10: // drop
			if rng.IntN(3) != 0 || len(md.b) == 0 {
				continue
			}
			off := md.start + rng.Int64N(min(2*advCS, int64(len(md.b))-md.start+1))
			check("DropBefore", m.DropBefore(off), true)
			md.start = m.Start()
			for i := range md.start {
				md.b[i] = 0
			}
		case 11: // reopen
			if rng.IntN(5) != 0 {
				continue
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m, err = chunkmap.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			va = accessor.New(m, order)
		default: // whole compare
			got := make([]byte, int64(len(md.b))-md.start)
			if _, err := m.ReadAt(got, md.start); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, md.b[md.start:]) {
				t.Fatalf("step %d: dataset differs from the model", step)
			}
		}
		if st := m.Stats(); st.Mapped > 1 || st.Pinned != 0 {
			t.Fatalf("step %d op %d: Stats %+v", step, op, st)
		}
		if m.Size() != int64(len(md.b)) || m.Start() != md.start {
			t.Fatalf("step %d op %d: Size %d Start %d, model %d %d", step, op, m.Size(), m.Start(), len(md.b), md.start)
		}
	}
}

// mixDecode decodes the size-byte value at the start of b in order enc.
func mixDecode(enc binary.ByteOrder, size int, b []byte) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(enc.Uint16(b))
	case 4:
		return uint64(enc.Uint32(b))
	}
	return enc.Uint64(b)
}
