package fuzz

// FuzzFar: the model's operations on a dataset created with a far
// Options.Start (1 TiB, or so near math.MaxInt64 that the last chunk ends
// at 2^63), with tiny arenas. The model runs in coordinates relative to a
// chunk-aligned base B, so that it stays small; offsets whose absolute
// value would overflow are expected to be ErrOutOfRange.

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

var farVerbose bool

// farMaxSize bounds the model's Size, relative to its base, so that its
// bytes stay few: 18 chunks, one past 2⁶³ for the base whose last chunk
// ends there (17 chunks above it), so that ranges beyond it are tried.
const farMaxSize = 18 * chunkSize

var farBases = [4]int64{1 << 40, math.MaxInt64&^(chunkSize-1) - 15*chunkSize, math.MaxInt64&^(chunkSize-1) - 3*chunkSize, 1<<40 + 3*chunkSize}

func FuzzFar(f *testing.F) {
	for _, s := range opsSeeds() {
		for _, x := range []byte{0, 1, 2, 3, 0x21, 0x42, 0x63, 0x83} {
			f.Add(append([]byte{x}, s[1:]...))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) { runFar(t, in) })
}

type farRun struct {
	*opsRun
	base int64
}

// abs maps a relative offset to an absolute one; ok is false where it
// would overflow.
func (r *farRun) abs(rel int64) (int64, bool) {
	if rel > math.MaxInt64-r.base {
		return 0, false
	}
	return r.base + rel, true
}

// overflowErr is what a call whose range ends past math.MaxInt64 returns.
func (r *farRun) overflowErr(write bool) error {
	switch {
	case r.mod.closed:
		return chunkmap.ErrClosed
	case write && r.mod.readOnly:
		return chunkmap.ErrReadOnly
	}
	return chunkmap.ErrOutOfRange
}

func runFar(t *testing.T, in []byte) {
	d := &decoder{b: in}
	h := d.byte()
	base := farBases[h&3]
	// The model's coordinates start one chunk below Start, so that every
	// offset the decoders give (clamped at 0) lies at or above 0.
	r := &farRun{opsRun: newOpsRun(t, 1+int(h>>2&1)), base: base - chunkSize}
	r.open(&chunkmap.Options{ChunkSize: chunkSize, MaxMapped: r.maxMapped, NoAdmission: h&0x80 == 0,
		ArenaSize: arenaSizes[h>>5&3], Start: base}, chunkSize)
	r.farState()
	for ops := 0; d.more() && ops < maxOps; ops++ {
		r.gen++
		r.farStep(d)
		r.farState()
	}
	r.logf("finish")
	if r.mod.closed {
		r.farReopen(0)
	}
	r.farCompareAll()
	for _, p := range r.pins {
		p.p.Release()
	}
	r.pins = nil
	r.checkErr("Close", r.m.Close(), r.mod.Close())
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		r.fatalf("%v", err)
	}
	if len(ents) != int(r.mod.files)+1 {
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		r.fatalf("directory holds %v, want MANIFEST and %d chunk files from %#x", names, r.mod.files, (r.base+r.mod.start)/chunkSize)
	}
	r.farReopen(1)
	r.farCompareAll()
	if farVerbose {
		t.Log(strings.Join(r.trace, "\n"))
	}
	r.checkErr("Close", r.m.Close(), r.mod.Close())
}

func (r *farRun) farState() {
	m, mod := r.m, r.mod
	if got, want := m.Size(), r.base+mod.size; got != want {
		r.fatalf("Size() = %d, want %d", got, want)
	}
	if got, want := m.Start(), r.base+mod.start; got != want {
		r.fatalf("Start() = %d, want %d", got, want)
	}
	if !mod.closed {
		if st := m.Stats(); int64(st.Chunks) != mod.nchunks {
			r.fatalf("Stats().Chunks = %d, want %d", st.Chunks, mod.nchunks)
		}
	}
}

func (r *farRun) farCompareAll() {
	if n := int(r.mod.size - r.mod.start); n > 0 {
		r.farRead(r.mod.start, n)
	}
}

func (r *farRun) farRead(rel int64, n int) {
	off, ok := r.abs(rel)
	if !ok {
		return
	}
	got := make([]byte, n)
	gotN, err := r.m.ReadAt(got, off)
	want := make([]byte, n)
	var wantN int
	var wantErr error
	if _, ok := r.abs(rel + int64(n)); !ok && n > 0 {
		wantErr = r.overflowErr(false)
	} else {
		wantN, wantErr = r.mod.ReadAt(want, rel)
	}
	r.checkErr(fmt.Sprintf("ReadAt(%d bytes, %d)", n, off), err, wantErr)
	if gotN != wantN {
		r.fatalf("ReadAt(%d bytes, %d) = %d, want %d", n, off, gotN, wantN)
	}
	if i := firstDiff(got[:gotN], want[:wantN]); i >= 0 {
		r.fatalf("ReadAt(%d bytes, %d): byte at %d = %#x, want %#x", n, off, off+int64(i), got[i], want[i])
	}
}

func (r *farRun) farReopen(flags byte) {
	readOnly := flags&1 != 0
	opts := &chunkmap.Options{MaxMapped: 1 + int(flags>>3&1), ReadOnly: readOnly, NoAdmission: flags&0x80 == 0,
		ArenaSize: arenaSizes[flags>>5&3]}
	r.logf("Reopen(%+v)", *opts)
	if !r.mod.closed {
		r.checkErr("Close", r.m.Close(), r.mod.Close())
		for _, p := range r.pins {
			p.valid = false
		}
	}
	m, err := chunkmap.Open(r.dir, opts)
	if err != nil {
		r.fatalf("reopen: %v", err)
	}
	r.m = m
	r.mod.Reopen(readOnly)
}

const (
	fWrite = iota
	fRead
	fAppend
	fTruncate
	fDrop
	fGrow
	fSync
	fReopen
	fPin
	fTyped
	fAtomic
	fGather
	fBatch
	fRelease
	fClose
	numFar
)

func (r *farRun) farStep(d *decoder) {
	m, mod := r.m, r.mod
	switch op := d.byte() % numFar; op {
	case fWrite:
		rel, n := max(r.off(d), 0), length(d)
		if rel+int64(n) > farMaxSize {
			return
		}
		p := make([]byte, n)
		r.pattern(p)
		off, ok := r.abs(rel)
		if !ok {
			return
		}
		r.logf("WriteAt(%d bytes, %d)", n, off)
		gotN, err := m.WriteAt(p, off)
		var wantErr error
		wantN := 0
		if _, ok := r.abs(rel + int64(n)); !ok {
			wantErr = r.overflowErr(true)
		} else {
			wantN, wantErr = mod.WriteAt(p, rel)
		}
		r.checkErr("WriteAt", err, wantErr)
		if gotN != wantN {
			r.fatalf("WriteAt = %d, want %d", gotN, wantN)
		}
	case fRead:
		rel, n := max(r.off(d), 0), length(d)
		r.logf("ReadAt(%d bytes, rel %d)", n, rel)
		r.farRead(rel, n)
	case fAppend:
		n := length(d)
		if mod.size+int64(n) > farMaxSize {
			return
		}
		p := make([]byte, n)
		r.pattern(p)
		r.logf("Append(%d bytes)", n)
		got, err := m.Append(p)
		var want int64
		var wantErr error
		if _, ok := r.abs(mod.size + int64(n)); !ok && n > 0 {
			wantErr = r.overflowErr(true)
		} else {
			want, wantErr = mod.Append(p)
		}
		r.checkErr("Append", err, wantErr)
		if err == nil && got != r.base+want {
			r.fatalf("Append = %d, want %d", got, r.base+want)
		}
	case fTruncate, fDrop:
		rel := max(r.off(d), 0)
		off, ok := r.abs(rel)
		if !ok || rel > farMaxSize {
			return
		}
		if op == fTruncate {
			r.logf("Truncate(%d)", off)
			err := m.Truncate(off)
			r.checkErr("Truncate", err, mod.Truncate(rel))
			for _, p := range r.pins {
				if p.off+int64(p.n) > mod.size {
					p.valid = false
				}
			}
		} else {
			r.logf("DropBefore(%d)", off)
			r.checkErr("DropBefore", m.DropBefore(off), mod.DropBefore(rel))
			for _, p := range r.pins {
				if p.off < mod.start {
					p.valid = false
				}
			}
		}
	case fGrow:
		n := int64(d.byte()) << 12
		if mod.size+n > farMaxSize {
			return
		}
		r.logf("Grow(%d)", n)
		err := m.Grow(n)
		var wantErr error
		if _, ok := r.abs(mod.size + n); !ok {
			wantErr = r.overflowErr(true)
		} else {
			wantErr = mod.Grow(n)
		}
		r.checkErr("Grow", err, wantErr)
	case fSync:
		r.logf("Sync")
		r.checkErr("Sync", m.Sync(), mod.Sync())
	case fReopen:
		r.farReopen(d.byte())
	case fClose:
		r.logf("Close")
		r.checkErr("Close", m.Close(), mod.Close())
		for _, p := range r.pins {
			p.valid = false
		}
	case fPin:
		b := d.byte()
		write := b&1 != 0
		rel, n := max(r.off(d), 0), length(d)
		off, ok := r.abs(rel)
		if !ok || len(r.pins) == maxPins {
			return
		}
		r.logf("Pin(%d, %d, write %v)", off, n, write)
		var p *chunkmap.Pinned
		var err error
		if write {
			p, err = m.PinWritable(off, n)
		} else {
			p, err = m.Pin(off, n)
		}
		var wantErr error
		if _, ok := r.abs(rel + int64(n)); !ok {
			wantErr = r.overflowErr(write)
		} else {
			wantErr = mod.Pin(rel, n, write)
		}
		r.checkErr("Pin", err, wantErr)
		if err != nil {
			return
		}
		r.pins = append(r.pins, &pinned{p: p, owner: m, off: rel, n: n, write: write, valid: true})
		r.checkPin(len(r.pins) - 1)
		if write {
			r.pattern(p.Bytes())
			copy(mod.data[rel:], p.Bytes())
		}
	case fRelease:
		if len(r.pins) == 0 {
			return
		}
		i := int(d.byte()) % len(r.pins)
		r.checkPin(i)
		r.pins[i].p.Release()
		r.pins = append(r.pins[:i], r.pins[i+1:]...)
	case fTyped:
		b := d.byte()
		rel := max(r.typedOff(d), 0)
		off, ok := r.abs(rel)
		if !ok {
			return
		}
		va := accessor.New(m, binary.LittleEndian)
		var buf [8]byte
		if b&1 != 0 {
			x := uint64(r.gen)*0x9e3779b97f4a7c15 + 1
			r.logf("WriteUint64(%d)", off)
			err := va.WriteUint64(off, x)
			binary.LittleEndian.PutUint64(buf[:], x)
			var wantErr error
			if _, ok := r.abs(rel + 8); !ok {
				wantErr = r.overflowErr(true)
			} else {
				_, wantErr = mod.WriteAt(buf[:], rel)
			}
			r.checkErr("WriteUint64", err, wantErr)
			return
		}
		r.logf("ReadUint64(%d)", off)
		got, err := va.ReadUint64(off)
		var wantErr error
		if _, ok := r.abs(rel + 8); !ok {
			wantErr = r.overflowErr(false)
		} else {
			_, wantErr = mod.ReadAt(buf[:], rel)
			if errClass(wantErr) == "EOF" {
				wantErr = chunkmap.ErrOutOfRange
			}
		}
		r.checkErr("ReadUint64", err, wantErr)
		if err == nil && got != binary.LittleEndian.Uint64(buf[:]) {
			r.fatalf("ReadUint64(%d) = %#x, want %#x", off, got, binary.LittleEndian.Uint64(buf[:]))
		}
	case fAtomic:
		b := d.byte()
		rel := max(r.typedOff(d), 0) &^ 7
		off, ok := r.abs(rel)
		if !ok {
			return
		}
		var wantErr error
		if _, ok := r.abs(rel + 8); !ok {
			wantErr = r.overflowErr(b&1 != 0)
		} else {
			wantErr = mod.atomicErr(rel, 8, b&1 != 0)
		}
		x := uint64(r.gen) * 0x9e3779b97f4a7c15
		if b&1 != 0 {
			r.logf("AddUint64(%d)", off)
			got, err := m.AddUint64(off, x)
			r.checkErr("AddUint64", err, wantErr)
			if err == nil {
				want := binary.NativeEndian.Uint64(mod.data[rel:]) + x
				binary.NativeEndian.PutUint64(mod.data[rel:], want)
				if got != want {
					r.fatalf("AddUint64 = %#x, want %#x", got, want)
				}
			}
			return
		}
		r.logf("LoadUint64(%d)", off)
		got, err := m.LoadUint64(off)
		r.checkErr("LoadUint64", err, wantErr)
		if err == nil && got != binary.NativeEndian.Uint64(mod.data[rel:]) {
			r.fatalf("LoadUint64 = %#x, want %#x", got, binary.NativeEndian.Uint64(mod.data[rel:]))
		}
	case fGather:
		cnt := int(d.byte()) % 5
		n := 1 + int(d.byte()%16)
		rels := make([]int64, cnt)
		offs := make([]int64, cnt)
		for i := range rels {
			rels[i] = max(r.typedOff(d), 0)
			var ok bool
			if offs[i], ok = r.abs(rels[i] + int64(n)); !ok {
				return
			}
			offs[i] -= int64(n)
		}
		r.logf("Gather(%v, %d)", offs, n)
		got := make([]byte, cnt*n)
		want := make([]byte, cnt*n)
		err := m.Gather(got, offs, n)
		k, wantErr := mod.gather(want, rels, n)
		r.checkErr("Gather", err, wantErr)
		if i := firstDiff(got[:k*n], want[:k*n]); i >= 0 {
			r.fatalf("Gather: byte %d = %#x, want %#x", i, got[i], want[i])
		}
	case fBatch:
		rel, n := max(r.off(d), 0), length(d)
		off, ok := r.abs(rel)
		if !ok {
			return
		}
		if _, ok := r.abs(rel + int64(n)); !ok {
			return
		}
		write := d.byte()&1 != 0
		r.logf("Batch{Bytes(%d, %d, writable %v)}", off, n, write)
		err := m.Batch(func(b *chunkmap.Batch) error {
			var p []byte
			var err error
			if write {
				p, err = b.WritableBytes(off, n)
			} else {
				p, err = b.Bytes(off, n)
			}
			r.checkErr("Batch Bytes", err, mod.Pin(rel, n, write))
			if err != nil {
				return nil
			}
			if i := firstDiff(p, mod.data[rel:rel+int64(n)]); i >= 0 {
				r.fatalf("Batch Bytes: byte at %d = %#x, want %#x", off+int64(i), p[i], mod.data[rel+int64(i)])
			}
			if write {
				r.pattern(p)
				copy(mod.data[rel:], p)
			}
			return nil
		})
		if mod.closed {
			r.checkErr("Batch", err, chunkmap.ErrClosed)
		} else if err != nil {
			r.fatalf("Batch: %v", err)
		}
	}
}
