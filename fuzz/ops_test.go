package fuzz

// This file holds FuzzOps: sequences of operations decoded from the fuzzer's
// bytes, run against a Manager and against the model side by side.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

const (
	// chunkSize is the chunk size of every dataset the targets build.
	chunkSize = 64 << 10
	// maxOps bounds the operations of one input, so each run stays short.
	maxOps = 64
	// maxSize bounds the Size an operation may ask for; operations that
	// would extend the dataset past it are skipped, to keep the disk small.
	maxSize = 2 << 20
	// maxPins bounds the pins held at once.
	maxPins = 8
)

// Operation codes; an operation is its code (the byte modulo numOps)
// followed by its arguments.
const (
	opWriteAt = iota
	opReadAt
	opAppend
	opWriteTyped
	opReadTyped
	opGrow
	opTruncate
	opDropBefore
	opSync
	opClose
	opReopen
	opPin
	opRelease
	opPinStore
	opPinCheck
	opMisc
	numOps
)

// Sub-operations of opMisc.
const (
	miscOpenLocked = iota // a second read-write Open while open
	miscOverflow          // a write whose end overflows int64
	miscReadHuge          // a read at an offset far past Size
	miscPinHuge           // a pin at an offset far past Size
	miscCrash             // open a copy of the directory as a crash of the process leaves it
	miscPowerLoss         // open a copy as a power loss may leave it
	miscFollow            // open a read-only follower beside the Manager, or close it
	numMisc
)

// decoder hands out the fuzzer's bytes; past their end it returns zeros.
type decoder struct{ b []byte }

func (d *decoder) more() bool { return len(d.b) > 0 }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// pinned is a Pin the run holds.
type pinned struct {
	p     *chunkmap.Pinned
	owner *chunkmap.Manager
	off   int64
	n     int
	write bool
	// valid is cleared once the range may leave [Start, Size): by a
	// shrinking Truncate, a DropBefore past it, or Close. An invalid pin
	// may only be released.
	valid bool
}

// opsRun is one execution of FuzzOps.
type opsRun struct {
	t         *testing.T
	dir       string
	maxMapped int
	m         *chunkmap.Manager
	mod       *model
	// follower is a read-only Manager opened beside m (miscFollow): it
	// must see m's Start, Size and bytes at once, without Refresh.
	follower          *chunkmap.Manager
	followerMaxMapped int
	pins              []*pinned
	pinsEver          bool // a pin was taken on m, so Mapped may exceed MaxMapped
	gen               int  // counts operations; seeds the bytes they write
	trace             []string
}

func (r *opsRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf(format, args...))
}

func (r *opsRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\noperations:\n\t%s", fmt.Sprintf(format, args...), strings.Join(r.trace, "\n\t"))
}

// checkErr fails unless got and want are of the same class.
func (r *opsRun) checkErr(what string, got, want error) {
	r.t.Helper()
	if g, w := errClass(got), errClass(want); g != w {
		r.fatalf("%s: error %v (%s), want class %s", what, got, g, w)
	}
}

// pattern fills p with bytes that depend on the operation, so that every
// write leaves its own mark.
func (r *opsRun) pattern(p []byte) {
	g := byte(r.gen*29 + 1)
	for i := range p {
		p[i] = g + byte(i*7) + byte(i>>8)
	}
}

// off decodes an offset: near a chunk edge, anywhere in a chunk, or near
// Size or Start. It may be negative.
func (r *opsRun) off(d *decoder) int64 {
	c := int64(d.byte() % 17)
	p := d.byte()
	v := int64(p & 63)
	switch p >> 6 {
	case 0:
		return c*chunkSize + v - 32
	case 1:
		return c*chunkSize + v<<10 + c
	case 2:
		return r.mod.size + v - 32
	default:
		return r.mod.start + v - 32
	}
}

// typedOff decodes an offset within a few bytes of a chunk edge, or of Size.
func (r *opsRun) typedOff(d *decoder) int64 {
	c := int64(d.byte() % 17)
	delta := int64(int8(d.byte())) % 12
	if c == 16 {
		return r.mod.size + delta
	}
	return c*chunkSize + delta
}

// length decodes a length: mostly small, sometimes more than a chunk.
func length(d *decoder) int {
	l := d.byte()
	if l&0x80 == 0 {
		return int(l)
	}
	return int(l&0x7f) * 1031
}

// FuzzOps runs the operations its input spells on a Manager and on the
// model side by side, and fails on any difference in the bytes returned,
// Size, Start, Stats().Chunks or the class of an error; a read-only
// follower, when one is open, must agree with the model too, and copies
// of the directory taken as a crash or a power loss would leave it must
// open as the model says. The input is a header byte (MaxMapped
// 1+(h&0x7f)%3, an arena of 0 (the default), 1, 2 or 4 chunks by h>>5&3,
// admission on if h&0x80, else NoAdmission) and then operations: a code
// (see opWriteAt...) and its argument bytes. Tiny arenas make chunks share
// slots, so slots change owner all the time.
func FuzzOps(f *testing.F) {
	for _, s := range opsSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		runOps(t, in)
	})
}

// arenaSizes are the Options.ArenaSize a run may choose.
var arenaSizes = [4]int64{0, chunkSize, 2 * chunkSize, 4 * chunkSize}

func runOps(t *testing.T, in []byte) {
	r, d := startOps(t, in)
	for ops := 0; d.more() && ops < maxOps; ops++ {
		r.gen++
		r.step(d)
		r.checkState()
	}
	r.finish()
}

// startOps decodes the header byte of in and opens the Manager it spells
// (see FuzzOps) in a new directory, closed again, with the run's pins and
// follower, when the test ends; it returns the run and the decoder of the
// rest of in.
func startOps(t *testing.T, in []byte) (*opsRun, *decoder) {
	d := &decoder{b: in}
	h := d.byte()
	r := newOpsRun(t, 1+int(h&0x7f)%3)
	r.open(&chunkmap.Options{ChunkSize: chunkSize, MaxMapped: r.maxMapped, NoAdmission: h&0x80 == 0,
		ArenaSize: arenaSizes[h>>5&3]}, 0)
	return r, d
}

// newOpsRun returns a run in a new directory, with an empty model.
func newOpsRun(t *testing.T, maxMapped int) *opsRun {
	return &opsRun{t: t, dir: filepath.Join(t.TempDir(), "ds"), maxMapped: maxMapped, mod: newModel(chunkSize)}
}

// open opens the run's Manager with opts, on a new dataset that starts at
// start in the model's coordinates, closed again, with the run's pins and
// follower, when the test ends.
func (r *opsRun) open(opts *chunkmap.Options, start int64) {
	r.logf("Open(%+v)", *opts)
	m, err := chunkmap.Open(r.dir, opts)
	if err != nil {
		r.fatalf("Open: %v", err)
	}
	r.m = m
	r.mod.setSize(start)
	r.mod.start = start
	r.mod.recLo, r.mod.recHi = start, start
	r.t.Cleanup(func() {
		// Leave nothing mapped or locked when the run fails early.
		for _, p := range r.pins {
			p.p.Release()
		}
		r.m.Close()
		if r.follower != nil {
			r.follower.Close()
		}
	})
}

// step decodes and runs one operation on both the Manager and the model.
func (r *opsRun) step(d *decoder) { r.stepOp(d.byte()%numOps, d) }

// stepOp decodes the arguments of operation op and runs it on both.
func (r *opsRun) stepOp(op byte, d *decoder) {
	m, mod := r.m, r.mod
	switch op {
	case opWriteAt:
		off, n := r.off(d), length(d)
		if off+int64(n) > maxSize {
			return
		}
		p := make([]byte, n)
		r.pattern(p)
		r.logf("WriteAt(%d bytes, %d)", n, off)
		gotN, err := m.WriteAt(p, off)
		wantN, wantErr := mod.WriteAt(p, off)
		r.checkErr("WriteAt", err, wantErr)
		if gotN != wantN {
			r.fatalf("WriteAt(%d bytes, %d) = %d, want %d", n, off, gotN, wantN)
		}

	case opReadAt:
		off, n := r.off(d), length(d)
		r.logf("ReadAt(%d bytes, %d)", n, off)
		r.compareRead(off, n)
		if r.follower != nil {
			r.compareReadOn(r.follower, "follower", off, n)
		}

	case opAppend:
		n := length(d)
		if mod.size+int64(n) > maxSize {
			return
		}
		p := make([]byte, n)
		r.pattern(p)
		r.logf("Append(%d bytes)", n)
		got, err := m.Append(p)
		want, wantErr := mod.Append(p)
		r.checkErr("Append", err, wantErr)
		if err == nil && got != want {
			r.fatalf("Append(%d bytes) = %d, want %d", n, got, want)
		}

	case opWriteTyped:
		b := d.byte()
		w, order := typedKind(b)
		off := r.typedOff(d)
		if off+int64(w) > maxSize {
			return
		}
		x := uint64(r.gen)*0x9e3779b97f4a7c15 + 1
		var buf [8]byte
		va := accessor.New(m, order)
		var err error
		switch w {
		case 2:
			order.PutUint16(buf[:], uint16(x))
			err = va.WriteUint16(off, uint16(x))
		case 4:
			order.PutUint32(buf[:], uint32(x))
			err = va.WriteUint32(off, uint32(x))
		default:
			order.PutUint64(buf[:], x)
			err = va.WriteUint64(off, x)
		}
		r.logf("WriteUint%d(%d, %#x) %v", 8*w, off, buf[:w], order)
		_, wantErr := mod.WriteAt(buf[:w], off)
		r.checkErr(fmt.Sprintf("WriteUint%d", 8*w), err, wantErr)

	case opReadTyped:
		b := d.byte()
		w, order := typedKind(b)
		off := r.typedOff(d)
		r.logf("ReadUint%d(%d) %v", 8*w, off, order)
		va := accessor.New(m, order)
		var (
			got uint64
			err error
		)
		switch w {
		case 2:
			var v uint16
			v, err = va.ReadUint16(off)
			got = uint64(v)
		case 4:
			var v uint32
			v, err = va.ReadUint32(off)
			got = uint64(v)
		default:
			got, err = va.ReadUint64(off)
		}
		buf := make([]byte, w)
		_, wantErr := mod.ReadAt(buf, off)
		if errClass(wantErr) == "EOF" {
			// A value cut short at Size is not a value: typed reads
			// report it as out of range, and only ReadAt uses io.EOF.
			wantErr = chunkmap.ErrOutOfRange
		}
		r.checkErr(fmt.Sprintf("ReadUint%d(%d)", 8*w, off), err, wantErr)
		if err == nil {
			var want uint64
			switch w {
			case 2:
				want = uint64(order.Uint16(buf))
			case 4:
				want = uint64(order.Uint32(buf))
			default:
				want = order.Uint64(buf)
			}
			if got != want {
				r.fatalf("ReadUint%d(%d) = %#x, want %#x", 8*w, off, got, want)
			}
		}

	case opGrow:
		b := d.byte()
		n := int64(b) << 12
		if b == 255 {
			n = -1
		}
		if mod.size+n > maxSize {
			return
		}
		r.logf("Grow(%d)", n)
		r.checkErr("Grow", m.Grow(n), mod.Grow(n))

	case opTruncate:
		size := r.off(d)
		if size > maxSize {
			return
		}
		r.logf("Truncate(%d)", size)
		old := mod.size
		err := m.Truncate(size)
		r.checkErr("Truncate", err, mod.Truncate(size))
		if err == nil && size < old {
			for _, p := range r.pins {
				if p.off+int64(p.n) > size {
					p.valid = false
				}
			}
		}

	case opDropBefore:
		off := r.off(d)
		r.logf("DropBefore(%d)", off)
		err := m.DropBefore(off)
		r.checkErr("DropBefore", err, mod.DropBefore(off))
		for _, p := range r.pins {
			if p.off < mod.start {
				p.valid = false
			}
		}

	case opSync:
		r.logf("Sync")
		r.checkErr("Sync", m.Sync(), mod.Sync())

	case opClose:
		r.logf("Close")
		r.close()

	case opReopen:
		r.reopen(d.byte())

	case opPin:
		b := d.byte()
		write := b&1 != 0
		off := r.off(d)
		n := length(d)
		if b&2 != 0 {
			// Reach to the end of the chunk, or just past it.
			n = int(chunkSize-off&(chunkSize-1)) + int(b>>7)
		}
		r.pin(off, n, write)

	case opRelease:
		if len(r.pins) == 0 {
			return
		}
		i := int(d.byte()) % len(r.pins)
		r.logf("Release(pin %d)", i)
		p := r.pins[i]
		p.p.Release()
		p.p.Release() // idempotent
		r.pins = append(r.pins[:i], r.pins[i+1:]...)

	case opPinStore:
		if len(r.pins) == 0 {
			return
		}
		i := int(d.byte()) % len(r.pins)
		p := r.pins[i]
		if !p.valid || !p.write || p.owner != m || mod.closed {
			return
		}
		r.logf("store through pin %d [%d, %d)", i, p.off, p.off+int64(p.n))
		r.pattern(p.p.Bytes())
		copy(mod.data[p.off:], p.p.Bytes())

	case opPinCheck:
		if len(r.pins) == 0 {
			return
		}
		i := int(d.byte()) % len(r.pins)
		r.logf("check pin %d", i)
		r.checkPin(i)

	case opMisc:
		r.misc(d.byte()%numMisc, d)
	}
}

// typedKind decodes the width and byte order of a typed operation.
func typedKind(b byte) (int, binary.ByteOrder) {
	w := [3]int{2, 4, 8}[b%3]
	if b&0x80 != 0 {
		return w, binary.BigEndian
	}
	return w, binary.LittleEndian
}

// compareRead reads n bytes at off from both and compares what they return.
func (r *opsRun) compareRead(off int64, n int) {
	r.t.Helper()
	r.compareReadOn(r.m, "", off, n)
}

// compareReadOn reads n bytes at off from m (r.m, or the follower named by
// who) and from the model, and compares what they return. The follower
// reads what the model holds even while r.m is closed.
func (r *opsRun) compareReadOn(m *chunkmap.Manager, who string, off int64, n int) {
	r.t.Helper()
	if who != "" {
		who += " "
	}
	got := make([]byte, n)
	want := make([]byte, n)
	gotN, err := m.ReadAt(got, off)
	mod := r.mod
	if m != r.m && mod.closed {
		open := *mod
		open.closed = false
		mod = &open
	}
	wantN, wantErr := mod.ReadAt(want, off)
	r.checkErr(fmt.Sprintf("%sReadAt(%d bytes, %d)", who, n, off), err, wantErr)
	if gotN != wantN {
		r.fatalf("%sReadAt(%d bytes, %d) = %d, want %d", who, n, off, gotN, wantN)
	}
	if i := firstDiff(got[:gotN], want[:wantN]); i >= 0 {
		r.fatalf("%sReadAt(%d bytes, %d): byte at offset %d = %#x, want %#x", who, n, off, off+int64(i), got[i], want[i])
	}
}

// firstDiff returns the index of the first byte where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func (r *opsRun) close() {
	r.t.Helper()
	r.checkErr("Close", r.m.Close(), r.mod.Close())
	for _, p := range r.pins {
		if p.owner == r.m {
			p.valid = false
		}
	}
}

// reopen closes the Manager if it is open and opens the dataset again, as
// flags say: read-only or not, ChunkSize 0 or the dataset's, and first a
// try with another ChunkSize that must fail.
func (r *opsRun) reopen(flags byte) {
	r.t.Helper()
	readOnly := flags&1 != 0
	opts := &chunkmap.Options{
		ChunkSize:   chunkSize,
		MaxMapped:   1 + int(flags>>3&3)%3,
		ReadOnly:    readOnly,
		NoAdmission: flags&0x80 == 0,
		ArenaSize:   arenaSizes[flags>>5&3],
	}
	if flags&2 != 0 {
		opts.ChunkSize = 0
	}
	r.logf("Reopen(%+v, wrong size first %v)", *opts, flags&4 != 0)
	if !r.mod.closed {
		r.close()
	}
	if flags&4 != 0 {
		wrong := *opts
		wrong.ChunkSize = 2 * chunkSize
		if m, err := chunkmap.Open(r.dir, &wrong); err == nil {
			m.Close()
			r.fatalf("Open with ChunkSize %d of a dataset of %d succeeded", wrong.ChunkSize, chunkSize)
		} else {
			r.checkErr("Open with the wrong ChunkSize", err, chunkmap.ErrInvalidOptions)
		}
	}
	m, err := chunkmap.Open(r.dir, opts)
	if err != nil {
		r.fatalf("reopen: %v", err)
	}
	if got := m.ChunkSize(); got != chunkSize {
		r.fatalf("reopened ChunkSize() = %d, want %d", got, chunkSize)
	}
	r.m = m
	r.maxMapped = opts.MaxMapped
	r.pinsEver = false
	r.mod.Reopen(readOnly)
}

// pin takes a Pin or PinWritable and compares the bytes it gives with the
// model; a writable pin is written through at once.
func (r *opsRun) pin(off int64, n int, write bool) {
	r.t.Helper()
	if len(r.pins) == maxPins {
		return
	}
	r.logf("Pin(%d, %d, write %v)", off, n, write)
	var (
		p   *chunkmap.Pinned
		err error
	)
	if write {
		p, err = r.m.PinWritable(off, n)
	} else {
		p, err = r.m.Pin(off, n)
	}
	r.checkErr("Pin", err, r.mod.Pin(off, n, write))
	if err != nil {
		return
	}
	r.pinsEver = true
	r.pins = append(r.pins, &pinned{p: p, owner: r.m, off: off, n: n, write: write, valid: true})
	r.checkPin(len(r.pins) - 1)
	if write {
		r.pattern(p.Bytes())
		copy(r.mod.data[off:], p.Bytes())
	}
}

// checkPin compares the bytes of pin i, if it is still valid, with the model.
func (r *opsRun) checkPin(i int) {
	r.t.Helper()
	p := r.pins[i]
	if !p.valid {
		return
	}
	b := p.p.Bytes()
	if len(b) != p.n {
		r.fatalf("pin %d at %d: %d bytes, want %d", i, p.off, len(b), p.n)
	}
	want := r.mod.data[p.off : p.off+int64(p.n)]
	if j := firstDiff(b, want); j >= 0 {
		r.fatalf("pin %d: byte at offset %d = %#x, want %#x", i, p.off+int64(j), b[j], want[j])
	}
}

func (r *opsRun) misc(sub byte, d *decoder) {
	r.t.Helper()
	m, mod := r.m, r.mod
	switch sub {
	case miscOpenLocked:
		if mod.closed || mod.readOnly {
			// Whether a reader may open beside the writer is not
			// the model's business.
			return
		}
		r.logf("second Open while open")
		m2, err := chunkmap.Open(r.dir, &chunkmap.Options{ChunkSize: chunkSize})
		if err == nil {
			m2.Close()
			r.fatalf("second read-write Open succeeded")
		}
		r.checkErr("second Open", err, chunkmap.ErrLocked)

	case miscOverflow:
		off := int64(math.MaxInt64 - 10)
		r.logf("WriteAt(16 bytes, %d)", off)
		p := make([]byte, 16)
		n, err := m.WriteAt(p, off)
		_, wantErr := mod.WriteAt(p, off)
		r.checkErr("WriteAt overflowing", err, wantErr)
		if n != 0 {
			r.fatalf("WriteAt overflowing wrote %d bytes", n)
		}

	case miscReadHuge:
		off := int64(math.MaxInt64 - 10)
		r.logf("ReadAt(16 bytes, %d)", off)
		r.compareRead(off, 16)

	case miscPinHuge:
		off := int64(math.MaxInt64 - 10)
		r.logf("Pin(%d, 16)", off)
		p, err := m.Pin(off, 16)
		r.checkErr("Pin far past Size", err, mod.Pin(off, 16, false))
		if err == nil {
			p.Release()
		}

	case miscCrash, miscPowerLoss:
		r.openCopy(sub == miscPowerLoss, d.byte())

	case miscFollow:
		b := d.byte()
		if r.follower != nil {
			r.logf("close the follower")
			if err := r.follower.Close(); err != nil {
				r.fatalf("follower Close: %v", err)
			}
			r.follower = nil
			return
		}
		opts := &chunkmap.Options{ReadOnly: true, MaxMapped: 1 + int(b)%3, NoAdmission: b&0x80 == 0,
			ArenaSize: arenaSizes[b>>5&3]}
		r.logf("open a follower (%+v)", *opts)
		f, err := chunkmap.Open(r.dir, opts)
		if err != nil {
			r.fatalf("follower Open: %v", err)
		}
		r.follower, r.followerMaxMapped = f, opts.MaxMapped
		if got, want := int64(f.Stats().Chunks), mod.needed(); got != want {
			r.fatalf("follower Stats().Chunks = %d, want %d", got, want)
		}
	}
}

// openCopy copies the directory as it is now, while the Manager may have
// it open, which is what a crash of the process leaves (everything that
// was written is in the page cache, and so is the state page), and opens
// the copy, read-only or not as b says. Open must find the model's Start,
// Size and bytes there. With powerLoss, the copy's state page is made
// another boot's: Open must go by the newest record instead, whose Size
// the model bounds, and read the model's bytes below both Sizes.
func (r *opsRun) openCopy(powerLoss bool, b byte) {
	r.t.Helper()
	readOnly := b&1 != 0
	what := "process crash"
	if powerLoss {
		what = "power loss"
	}
	r.logf("open a copy as a %s leaves it (read-only %v)", what, readOnly)
	dir := filepath.Join(r.t.TempDir(), "copy")
	if err := os.CopyFS(dir, os.DirFS(r.dir)); err != nil {
		r.fatalf("copy: %v", err)
	}
	defer os.RemoveAll(dir)
	if powerLoss {
		path := filepath.Join(dir, chunkmap.ManifestName)
		b, err := os.ReadFile(path)
		if err != nil || len(b) != mfLen {
			r.fatalf("copied MANIFEST: %d bytes, %v", len(b), err)
		}
		copy(b[pageOff+pBoot:pageOff+pBoot+bootLen], otherBoot[:])
		if err := os.WriteFile(path, b, 0o644); err != nil {
			r.fatalf("%v", err)
		}
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: readOnly, MaxMapped: 1, NoAdmission: b&2 != 0})
	if err != nil {
		r.fatalf("Open of the copy after a %s: %v", what, err)
	}
	defer m.Close()
	mod := r.mod
	size := m.Size()
	switch {
	case m.Start() != mod.start:
		r.fatalf("copy after a %s: Start() = %d, want %d", what, m.Start(), mod.start)
	case !powerLoss && size != mod.size:
		r.fatalf("copy after a %s: Size() = %d, want %d", what, size, mod.size)
	case powerLoss && (size < mod.recLo || size > mod.recHi):
		r.fatalf("copy after a %s: Size() = %d, want the last record's, in [%d, %d]", what, size, mod.recLo, mod.recHi)
	}
	if got, want := int64(m.Stats().Chunks), mod.ceilChunks(size)-mod.first(); got != want {
		r.fatalf("copy after a %s: Stats().Chunks = %d, want %d", what, got, want)
	}
	n := min(size, mod.size) - mod.start
	if n <= 0 {
		return
	}
	got := make([]byte, n)
	if k, err := m.ReadAt(got, mod.start); k != int(n) || err != nil {
		r.fatalf("copy after a %s: ReadAt(%d bytes, %d) = %d, %v", what, n, mod.start, k, err)
	}
	if i := firstDiff(got, mod.data[mod.start:mod.start+n]); i >= 0 {
		r.fatalf("copy after a %s: byte at offset %d = %#x, want %#x", what, mod.start+int64(i), got[i], mod.data[mod.start+int64(i)])
	}
}

// checkState compares Size, Start and the chunk count with the model, and
// checks MaxMapped.
func (r *opsRun) checkState() {
	r.t.Helper()
	m, mod := r.m, r.mod
	if got, want := m.Size(), mod.size; got != want {
		r.fatalf("Size() = %d, want %d", got, want)
	}
	if got, want := m.Start(), mod.start; got != want {
		r.fatalf("Start() = %d, want %d", got, want)
	}
	if f := r.follower; f != nil {
		// The follower takes the writer's Start and Size as they change
		// (and keeps them while no Manager is open).
		if got, want := f.Size(), mod.size; got != want {
			r.fatalf("follower Size() = %d, want %d", got, want)
		}
		if got, want := f.Start(), mod.start; got != want {
			r.fatalf("follower Start() = %d, want %d", got, want)
		}
		// It counts at least the chunk files Size needs, and no more
		// than there are.
		if st := f.Stats(); int64(st.Chunks) < mod.needed() || int64(st.Chunks) > mod.files || st.Mapped > r.followerMaxMapped {
			r.fatalf("follower Stats() = %+v, want from %d to %d chunks and at most MaxMapped %d mapped",
				st, mod.needed(), mod.files, r.followerMaxMapped)
		}
		// The last bytes before Size, across a chunk edge if Size is
		// near one.
		if from := max(mod.start, mod.size-24); from < mod.size {
			r.compareReadOn(f, "follower", from, int(mod.size-from))
		}
	}
	if mod.closed {
		return
	}
	st := m.Stats()
	if int64(st.Chunks) != mod.nchunks {
		r.fatalf("Stats().Chunks = %d, want %d", st.Chunks, mod.nchunks)
	}
	if st.Pinned > st.Mapped {
		r.fatalf("Stats() = %+v: more pinned than mapped", st)
	}
	if !r.pinsEver && st.Mapped > r.maxMapped {
		r.fatalf("Stats().Mapped = %d with no pins, want at most MaxMapped %d", st.Mapped, r.maxMapped)
	}
}

// finish compares the whole readable range and the directory with the
// model, closes the Manager, and checks the same again after a read-only
// Open.
func (r *opsRun) finish() {
	r.t.Helper()
	r.logf("finish")
	if r.mod.closed {
		r.reopen(0)
	}
	r.compareAll()
	if r.follower != nil {
		if n := int(r.mod.size - r.mod.start); n > 0 {
			r.compareReadOn(r.follower, "follower", r.mod.start, n)
		}
		if err := r.follower.Close(); err != nil {
			r.fatalf("follower Close: %v", err)
		}
		r.follower = nil
	}
	for _, p := range r.pins {
		p.p.Release()
	}
	r.pins = nil
	r.close()
	r.checkDir()
	r.reopen(1)
	r.checkState()
	r.compareAll()
	r.close()
}

// compareAll compares [Start, Size) and the chunk files with the model.
func (r *opsRun) compareAll() {
	r.t.Helper()
	n := int(r.mod.size - r.mod.start)
	if n > 0 {
		r.compareRead(r.mod.start, n)
	}
}

// checkDir checks that the directory holds exactly the chunk files
// [first, first+files), each of ChunkSize bytes, and no temporary file.
func (r *opsRun) checkDir() {
	r.t.Helper()
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		r.fatalf("%v", err)
	}
	first := r.mod.start / chunkSize
	want := map[string]bool{chunkmap.ManifestName: true}
	for i := first; i < first+r.mod.files; i++ {
		want[fmt.Sprintf("%016x.chunk", i)] = true
	}
	for _, e := range entries {
		if !want[e.Name()] {
			r.fatalf("unexpected file %s in the dataset", e.Name())
		}
		delete(want, e.Name())
		fi, err := e.Info()
		if err != nil {
			r.fatalf("%v", err)
		}
		if e.Name() != chunkmap.ManifestName && fi.Size() != chunkSize {
			r.fatalf("chunk file %s: %d bytes, want %d", e.Name(), fi.Size(), chunkSize)
		}
	}
	for name := range want {
		r.fatalf("file %s is missing", name)
	}
}

// Helpers that spell FuzzOps inputs for the seeds.

// edge encodes the offset delta bytes from the start of chunk c (-32 <=
// delta < 32).
func edge(c byte, delta int) []byte { return []byte{c, byte(delta + 32)} }

// mid encodes the offset k KiB (+c) into chunk c (k < 64).
func mid(c, k byte) []byte { return []byte{c, 0x40 | k} }

// nearSize encodes the offset Size+delta (-32 <= delta < 32).
func nearSize(delta int) []byte { return []byte{0, 0x80 | byte(delta+32)} }

// nearStart encodes the offset Start+delta (-32 <= delta < 32).
func nearStart(delta int) []byte { return []byte{0, 0xc0 | byte(delta+32)} }

// big encodes the length k*1031 (k < 128).
func big(k byte) byte { return 0x80 | k }

// typed encodes a typed operation's kind and an offset delta bytes from the
// start of chunk c (c == 16: from Size).
func typed(w int, bigEndian bool, c byte, delta int) []byte {
	k := map[int]byte{2: 0, 4: 1, 8: 2}[w]
	if bigEndian {
		k |= 0x80
	}
	return []byte{k, c, byte(int8(delta))}
}

// seed spells an input: the header (MaxMapped, and admission on when
// maxMapped has 0x80 set, else NoAdmission), then the operations.
func seed(maxMapped byte, parts ...any) []byte {
	b := []byte{maxMapped - 1}
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			b = append(b, byte(p))
		case byte:
			b = append(b, p)
		case []byte:
			b = append(b, p...)
		default:
			panic(fmt.Sprintf("seed part %T", p))
		}
	}
	return b
}

// opsSeeds are inputs that start the fuzzer at the interesting places:
// chunk edges, Size, Start, pins under eviction, reopening.
func opsSeeds() [][]byte {
	return [][]byte{
		// A write straddling a chunk edge, read back across it and at Size.
		seed(2, opWriteAt, edge(1, -5), 10, opReadAt, edge(1, -8), 20, opReadAt, nearSize(-3), 10,
			opReadAt, nearSize(0), 1, opReadAt, nearSize(0), 0, opReadAt, edge(0, -1), 1),
		// Appends, Truncate into the middle, re-extension reads zeros.
		seed(1, opAppend, big(100), opAppend, big(100), opTruncate, mid(1, 10), opTruncate, mid(2, 0),
			opReadAt, mid(1, 5), big(20), opWriteAt, nearSize(5), 3, opReadAt, mid(1, 9), big(2)),
		// DropBefore, reads below Start, Truncate below Start, a drop past Size.
		seed(3, opWriteAt, mid(3, 0), 100, opDropBefore, mid(2, 20), opReadAt, edge(2, -1), 4,
			opReadAt, edge(2, 0), 4, opDropBefore, mid(1, 0), opDropBefore, nearSize(1),
			opTruncate, nearStart(-1), opTruncate, nearStart(0), opWriteAt, nearStart(-1), 2,
			opWriteAt, nearStart(0), 2, opAppend, 5),
		// Close, calls after Close, reopen read-only, writes refused.
		seed(1, opWriteAt, edge(2, 3), 50, opClose, opReadAt, edge(0, 0), 4, opWriteAt, edge(0, 0), 4,
			opSync, opClose, opGrow, 1, opPin, 0, edge(0, 0), 4, opReopen, 1+8,
			opWriteAt, edge(0, 0), 4, opAppend, 1, opTruncate, edge(0, 0), opDropBefore, edge(1, 0),
			opGrow, 1, opSync, opPin, 1, edge(0, 0), 4, opReadAt, edge(2, 0), 10, opClose,
			opPin, 1, edge(0, 0), 4, opReopen, 2+4, opMisc, miscOpenLocked),
		// Pins with MaxMapped 1: the pinned chunks stay mapped while others
		// are read; Truncate and DropBefore delete pinned chunks.
		seed(1, opWriteAt, mid(4, 0), big(10), opPin, 1, edge(1, 0), 30, opPin, 0, edge(2, 0), 30,
			opReadAt, edge(3, 0), 10, opReadAt, edge(4, 0), 10, opPinCheck, 0, opPinStore, 0,
			opPin, 2|1, edge(3, 0), 0, opPin, 2|0x80, edge(3, 10), 0, opSync,
			opTruncate, edge(1, 10), opRelease, 0, opWriteAt, mid(3, 0), 9,
			opDropBefore, edge(2, 5), opPinCheck, 0, opRelease, 1, opRelease, 0, opClose, opRelease, 0),
		// Typed values straddling chunk edges and at Size, in both orders.
		seed(2, opWriteTyped, typed(8, false, 1, -3), opReadTyped, typed(8, false, 1, -3),
			opReadTyped, typed(8, true, 1, -4), opWriteTyped, typed(4, true, 2, -2),
			opReadTyped, typed(2, false, 2, -1), opWriteTyped, typed(2, false, 16, 3),
			opReadTyped, typed(4, false, 16, -2), opReadTyped, typed(8, false, 0, -1),
			opTruncate, edge(1, 0), opReadTyped, typed(8, false, 1, -4), opReadTyped, typed(8, false, 1, -8)),
		// Grow, including by a negative amount, then writes into the grown chunks.
		seed(3, opGrow, 40, opGrow, 255, opWriteAt, mid(2, 3), 7, opTruncate, edge(1, 0), opGrow, 0,
			opSync, opReopen, 0, opReadAt, nearSize(-1), 2, opGrow, 16),
		// Writes that overflow, reads and pins far past Size, a second Open.
		seed(1, opMisc, miscOverflow, opMisc, miscReadHuge, opMisc, miscPinHuge, opMisc, miscOpenLocked,
			opWriteAt, edge(0, -1), 3, opReadAt, edge(0, -32), 3),
		// The pread/pwrite miss path of Admission beside mapped chunks and pins.
		seed(0x81, opWriteAt, mid(0, 63), big(127), opReadAt, mid(1, 0), 100, opPin, 1, edge(1, 5), 20,
			opWriteAt, edge(1, 0), 40, opPinCheck, 0, opWriteAt, mid(3, 2), big(30), opReadAt, mid(0, 1), big(127),
			opTruncate, mid(1, 1), opWriteAt, mid(2, 0), 5, opReadAt, mid(1, 0), big(64), opRelease, 0,
			opReopen, 0x80|1, opReadAt, mid(0, 62), big(127)),
		seed(0x82, opAppend, big(127), opAppend, big(127), opAppend, big(127), opReadTyped, typed(8, false, 1, -3),
			opWriteTyped, typed(8, true, 2, -5), opSync, opReadAt, edge(2, -8), 16, opDropBefore, mid(1, 0),
			opReadAt, nearStart(0), big(70)),
		// Copies taken as a crash and as a power loss leave the directory,
		// after unsynced writes, a Truncate, a DropBefore, Grow and Close.
		seed(2, opWriteAt, mid(3, 0), big(100), opSync, opWriteAt, mid(5, 3), 50, opMisc, miscCrash, 0,
			opMisc, miscPowerLoss, 0, opTruncate, mid(2, 5), opMisc, miscPowerLoss, 1, opDropBefore, mid(1, 9),
			opMisc, miscPowerLoss, 2, opGrow, 40, opMisc, miscCrash, 3, opAppend, big(90), opMisc, miscPowerLoss, 3,
			opClose, opMisc, miscPowerLoss, 0, opMisc, miscCrash, 1),
		// A follower beside the writer sees its writes, Truncate and
		// DropBefore at once; it stays across the writer's Close and reopen.
		seed(1, opMisc, miscFollow, 0x81, opWriteAt, edge(1, -5), 10, opReadAt, edge(1, -8), 20,
			opTruncate, edge(1, 3), opWriteAt, mid(2, 1), 30, opDropBefore, edge(1, 0), opReadAt, nearStart(0), big(70),
			opClose, opReopen, 0, opAppend, big(3), opMisc, miscFollow, 0, opMisc, miscFollow, 2, opReopen, 1,
			opReadAt, nearSize(-10), 20),
		// The follower's mapped chunk deleted and made again by the writer.
		seed(1, opWriteAt, mid(2, 0), 100, opMisc, miscFollow, 0, opReadAt, mid(2, 0), 50,
			opTruncate, edge(1, 5), opWriteAt, mid(2, 0), 40, opReadAt, mid(2, 0), 50, opReadAt, edge(1, 0), 10),
		// Spare chunks from Grow: a read-only reopen ignores them, a
		// read-write one removes them.
		seed(1, opWriteAt, edge(1, 0), 5, opGrow, 40, opReopen, 1, opReopen, 0, opGrow, 80, opClose, opReopen, 1),
		// Eviction over many chunks, synced, reopened, read back.
		seed(1, opWriteAt, mid(0, 63), big(127), opWriteAt, mid(5, 1), big(90), opSync,
			opReadAt, mid(0, 60), big(127), opWriteAt, mid(2, 0), 77, opReopen, 2+16,
			opReadAt, mid(1, 62), big(127), opAppend, big(70)),
	}
}
