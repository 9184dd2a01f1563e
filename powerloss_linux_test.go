package chunkmap_test

// The power-loss simulator (the method of ALICE, OSDI 2014, and
// CrashMonkey, OSDI 2018): a seeded random workload runs on a Manager
// through a vfstest.Recorder, which logs every file operation and every
// fsync; then, for every step of the log, the disk as a power loss right
// after that step would leave it is built (each file with the bytes of its
// last fsync, each name as of the directory's last fsync, plus any prefix
// of the name changes made since, which a journaling file system may write
// out early), opened as after a reboot, and checked against a model of the
// workload: what the last Sync that returned acknowledged must be there.
// Stores that reach mapped memory without a file operation (atomics,
// Scatter, a Batch's or a pin's bytes) reach an image only through the
// fsync of their chunk, so the workloads include them: one that leaves
// its chunk unmarked for the next Sync shows as a lost store.
//
// The tests of the fault injector (vfstest.Faulty) are at the end: failed
// fsyncs, a full disk, and a descriptor limit.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

const (
	plChunk = chunkmap.MinChunkSize
	// plArena is the ArenaSize of every Manager here: small, so that
	// chunks far apart share places in it.
	plArena = 16 * plChunk
	// plLimit bounds every workload's offsets, and so the size of its
	// images.
	plLimit = 20 * plChunk
	// plOps is the number of operations in a workload after Open.
	plOps = 36
	// plWorkloads is how many workloads TestPowerLoss runs by default,
	// about 10 s on the 2-core reference machine (about 50,000 cuts);
	// plWorkloadsSlow is the default where images must be written to a
	// disk rather than tmpfs (see plImageRoot). CHUNKMAP_POWERLOSS_WORKLOADS
	// overrides both.
	plWorkloads     = 96
	plWorkloadsSlow = 24

	plBootRecorded = "A" // the boot the workloads run under
	plBootReopen   = "B" // the boot the images are opened under
)

type plKind int

const (
	plOpen plKind = iota
	plWrite
	plAppend
	plTruncate
	plDrop
	plGrow
	plSync
	plClose
	plCloseOpen // Close, then Open again
	plSeedV1    // a dataset of format version 1 to start from
	plCrashOpen // a crash of the process (Abandon), then Open again
	// The stores that go to mapped memory without a WriteAt, each of
	// which must mark its chunk for the next Sync (the first store to a
	// chunk since a Sync above all):
	plAtomic  // StoreUint64 of one aligned word
	plScatter // Scatter of aligned words
	plBatch   // a store through Batch.WritableBytes
	plPin     // a store through the bytes of PinWritable
)

var plKindNames = [...]string{"Open", "WriteAt", "Append", "Truncate", "DropBefore", "Grow", "Sync", "Close", "Close+Open", "SeedV1", "Crash+Open", "StoreUint64", "Scatter", "Batch", "PinWritable"}

// plOp is one operation of a workload, and what became of it.
type plOp struct {
	kind plKind
	off  int64   // WriteAt, StoreUint64, Batch, PinWritable: offset; Truncate: size; DropBefore: offset
	n    int64   // WriteAt, Append, Batch, PinWritable: length; Grow: bytes
	offs []int64 // Scatter: the offsets of its 8-byte words
	gen  int     // the operation's index in the workload, which seeds its bytes

	// before is the model's Start and Size when the operation began.
	before plExtent
	// from and to delimit the recorder steps (from, to] the operation
	// made.
	from, to int
	err      error
}

func (o plOp) String() string {
	var args string
	switch o.kind {
	case plWrite, plBatch, plPin:
		args = fmt.Sprintf("(%d bytes at %d)", o.n, o.off)
	case plAtomic:
		args = fmt.Sprintf("(%d)", o.off)
	case plScatter:
		args = fmt.Sprintf("(%d words at %v)", len(o.offs), o.offs)
	case plAppend:
		args = fmt.Sprintf("(%d bytes)", o.n)
	case plTruncate, plDrop:
		args = fmt.Sprintf("(%d)", o.off)
	case plGrow:
		args = fmt.Sprintf("(%d)", o.n)
	case plSeedV1:
		args = fmt.Sprintf("(start %d, size %d)", o.off, o.n)
	}
	s := fmt.Sprintf("#%d %s%s steps (%d, %d]", o.gen, plKindNames[o.kind], args, o.from, o.to)
	if o.err != nil {
		s += fmt.Sprintf(": %v", o.err)
	}
	return s
}

// syncs reports whether the operation syncs (and so records Start and
// Size in the manifest) when it succeeds.
func (o plOp) syncs() bool { return o.kind == plSync || o.kind == plClose || o.kind == plCloseOpen }

// plByte is the byte operation gen writes at offset off: never zero, so a
// lost write shows, and different for each operation and offset.
func plByte(gen int, off int64) byte {
	return byte(uint64(gen)*131+uint64(off)*7+uint64(off)>>9)%255 + 1
}

// plExtent is a Start and a Size.
type plExtent struct{ start, size int64 }

// plModel is what the workload's dataset holds: data[i] for i in
// [start, len(data)); bytes below start are kept but mean nothing.
type plModel struct {
	start int64
	data  []byte
}

func (s *plModel) size() int64      { return int64(len(s.data)) }
func (s *plModel) extent() plExtent { return plExtent{s.start, s.size()} }
func (s *plModel) clone() plModel   { return plModel{start: s.start, data: bytes.Clone(s.data)} }
func (s *plModel) resize(size int64) {
	s.data = append(s.data[:min(size, s.size())], make([]byte, max(0, size-s.size()))...)
}

// plNext draws a valid operation for model s; gen is its index.
func plNext(r *rand.Rand, s *plModel, gen int) plOp {
	op := plOp{gen: gen}
	size := s.size()
	room := plLimit - size
	// The aligned words inside [Start, Size) that stores to mapped memory
	// may take: [lo, lo+8*words).
	lo := (s.start + 7) &^ 7
	words := max(0, (size-lo)/8)
	switch k := r.IntN(100); {
	case k < 14:
		op.kind = plSync
	case k < 30 && room > 4096:
		// A small WriteAt, inside or past Size (leaving a hole).
		op.kind = plWrite
		op.off = s.start + r.Int64N(min(size-s.start+2*plChunk, plLimit-4096-s.start))
		op.n = 1 + r.Int64N(3000)
	case k < 36 && words > 0:
		op.kind = plAtomic
		op.off = lo + 8*r.Int64N(words)
	case k < 38 && words > 0:
		op.kind = plScatter
		// Distinct words, so that the model need not know which of two
		// stores to one word comes last.
		for _, w := range r.Perm(int(min(words, 1000)))[:1+r.IntN(int(min(words, 40)))] {
			op.offs = append(op.offs, lo+8*int64(w)*(words/min(words, 1000)))
		}
	case k < 42 && size > s.start:
		op.kind = plBatch
		if k >= 40 {
			op.kind = plPin
		}
		op.off = s.start + r.Int64N(size-s.start)
		op.n = 1 + r.Int64N(min(3000, size-op.off))
	case k < 52 && room > 3*plChunk:
		// A bulk WriteAt, which goes to the files with pwrite.
		op.kind = plWrite
		op.n = plChunk + r.Int64N(plChunk*3/2)
		op.off = s.start + r.Int64N(min(size-s.start+plChunk, plLimit-op.n-s.start))
	case k < 62 && room > 3*plChunk:
		op.kind = plAppend
		op.n = 1 + r.Int64N(5000)
		if r.IntN(3) == 0 {
			op.n = plChunk + r.Int64N(plChunk)
		}
	case k < 78:
		op.kind = plTruncate
		if size > s.start && r.IntN(3) != 0 {
			op.off = s.start + r.Int64N(size-s.start+1) // shrinking, often across chunks
		} else {
			op.off = size + r.Int64N(min(2*plChunk, plLimit-size)+1)
		}
	case k < 86 && size > s.start:
		op.kind = plDrop
		op.off = s.start + r.Int64N(size-s.start+1)
	case k < 92:
		op.kind = plGrow
		op.n = r.Int64N(min(3*plChunk, plLimit-size) + 1)
	case k < 94:
		op.kind = plCloseOpen
	default:
		op.kind = plSync
	}
	return op
}

// plApply runs op on m and, if it succeeds, on the model s; it returns the
// ranges of offsets the operation changes.
func plApply(m *chunkmap.Manager, s *plModel, op *plOp) (changed [][2]int64) {
	switch op.kind {
	case plWrite, plAppend:
		off := op.off
		if op.kind == plAppend {
			off = s.size()
		}
		p := make([]byte, op.n)
		for i := range p {
			p[i] = plByte(op.gen, off+int64(i))
		}
		if op.kind == plAppend {
			var got int64
			got, op.err = m.Append(p)
			if op.err == nil && got != off {
				op.err = fmt.Errorf("Append returned offset %d, want %d", got, off)
			}
		} else {
			_, op.err = m.WriteAt(p, off)
		}
		if op.err == nil {
			changed = append(changed, [2]int64{min(off, s.size()), off + op.n})
			if end := off + op.n; end > s.size() {
				s.resize(end)
			}
			copy(s.data[off:], p)
		}
	case plTruncate:
		if op.err = m.Truncate(op.off); op.err == nil {
			changed = append(changed, [2]int64{min(op.off, s.size()), max(op.off, s.size())})
			s.resize(op.off)
		}
	case plDrop:
		if op.err = m.DropBefore(op.off); op.err == nil {
			if first := op.off / plChunk * plChunk; first > s.start {
				changed = append(changed, [2]int64{s.start, first})
				s.start = first
			}
		}
	case plAtomic:
		var b [8]byte
		for i := range b {
			b[i] = plByte(op.gen, op.off+int64(i))
		}
		if op.err = m.StoreUint64(op.off, binary.NativeEndian.Uint64(b[:])); op.err == nil {
			changed = append(changed, [2]int64{op.off, op.off + 8})
			copy(s.data[op.off:], b[:])
		}
	case plScatter:
		src := make([]byte, 8*len(op.offs))
		for k, off := range op.offs {
			for i := range 8 {
				src[8*k+i] = plByte(op.gen, off+int64(i))
			}
		}
		if op.err = m.Scatter(src, op.offs, 8); op.err == nil {
			for k, off := range op.offs {
				changed = append(changed, [2]int64{off, off + 8})
				copy(s.data[off:], src[8*k:8*k+8])
			}
		}
	case plBatch, plPin:
		p := make([]byte, op.n)
		for i := range p {
			p[i] = plByte(op.gen, op.off+int64(i))
		}
		if op.kind == plBatch {
			op.err = m.Batch(func(b *chunkmap.Batch) error {
				q, err := b.WritableBytes(op.off, int(op.n))
				copy(q, p)
				return err
			})
		} else {
			var pin *chunkmap.Pinned
			if pin, op.err = m.PinWritable(op.off, int(op.n)); op.err == nil {
				copy(pin.Bytes(), p)
				pin.Release()
			}
		}
		if op.err == nil {
			changed = append(changed, [2]int64{op.off, op.off + op.n})
			copy(s.data[op.off:], p)
		}
	case plGrow:
		op.err = m.Grow(op.n)
	case plSync:
		op.err = m.Sync()
	case plClose:
		op.err = m.Close()
	}
	return changed
}

// plWorkload is a recorded workload.
type plWorkload struct {
	seed uint64
	dir  string
	rec  *vfstest.Recorder
	ops  []plOp
	// changed[i] are the offset ranges ops[i] changed.
	changed [][][2]int64
	// acked[i] is set for each operation that synced and returned nil.
	acked map[int]bool
	// snaps[i] is the model after ops[i], for a version 1 dataset
	// seeded, for each operation followed by one that syncs, and for
	// that one (it does not change the model); snaps[-1] is the empty
	// model.
	snaps map[int]plModel
	// Every cut after firstCut to steps steps is checked: steps is the
	// number of recorder steps the workload made, and firstCut that of
	// the seeding of a version 1 dataset, if any.
	firstCut, steps int
}

// plBug configures a Faulty that simulates a bug of the Manager.
type plBug func(*vfstest.Faulty)

// plRun runs the workload of seed in a new directory under root, through
// a Recorder (and a Faulty set up by bug, if not nil); with crashes, about
// one operation in eight is a crash of the process followed by an Open,
// which recovers Start, Size and the writes from the page cache.
func plRun(t *testing.T, root string, seed uint64, bug plBug, crashes bool) *plWorkload {
	t.Helper()
	w := &plWorkload{seed: seed, dir: filepath.Join(root, fmt.Sprintf("w%d", seed), "ds"),
		acked: make(map[int]bool), snaps: map[int]plModel{-1: {}}}
	w.rec = vfstest.NewRecorder(vfs.OS, plBootRecorded)
	w.rec.NoSync = true // the images come from the log, not the disk
	var fsys vfs.FS = w.rec
	if bug != nil {
		f := vfstest.NewFaulty(w.rec)
		bug(f)
		fsys = f
	}
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	opts := chunkmap.Options{ChunkSize: plChunk, ArenaSize: plArena, MaxMapped: 1 + r.IntN(4), NoAdmission: r.IntN(2) == 0}
	chunkmap.SetFS(&opts, fsys)

	var s plModel
	if r.IntN(4) == 0 {
		// An upgrade of the manifest to version 2 is part of the
		// workload: its images must hold the old dataset or the new.
		plMakeV1(t, w.rec, w.dir, &s, r)
		w.ops = append(w.ops, plOp{kind: plSeedV1, off: s.start, n: s.size(), to: w.rec.Steps()})
		w.changed = append(w.changed, nil)
		w.acked[0] = true
		w.snaps[0] = s.clone()
		w.firstCut = w.rec.Steps()
	}
	open := plOp{kind: plOpen, gen: len(w.ops), before: s.extent(), from: w.rec.Steps()}
	m, err := chunkmap.Open(w.dir, &opts)
	open.to, open.err = w.rec.Steps(), err
	w.ops = append(w.ops, open)
	w.changed = append(w.changed, nil)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, open)
	}
	closed := false
	for i := 1; i <= plOps && !closed; i++ {
		op := plNext(r, &s, len(w.ops))
		if i == plOps && r.IntN(2) == 0 {
			op.kind = plClose
		} else if crashes && r.IntN(8) == 0 {
			op = plOp{kind: plCrashOpen, gen: op.gen}
		}
		op.before = s.extent()
		if op.syncs() {
			w.snaps[len(w.ops)-1] = s.clone()
			w.snaps[len(w.ops)] = w.snaps[len(w.ops)-1]
		}
		op.from = w.rec.Steps()
		var changed [][2]int64
		switch op.kind {
		case plCloseOpen:
			if op.err = m.Close(); op.err == nil {
				m, op.err = chunkmap.Open(w.dir, &opts)
			}
		case plCrashOpen:
			if op.err = chunkmap.Abandon(m); op.err == nil {
				m, op.err = chunkmap.Open(w.dir, &opts)
			}
		default:
			changed = plApply(m, &s, &op)
		}
		op.to = w.rec.Steps()
		w.ops = append(w.ops, op)
		w.changed = append(w.changed, changed)
		if op.err != nil {
			t.Fatalf("seed %d: %v (operations: %v)", seed, op, w.ops)
		}
		if op.syncs() {
			w.acked[len(w.ops)-1] = true
		}
		closed = op.kind == plClose
		if !closed && (m.Start() != s.start || m.Size() != s.size()) {
			t.Fatalf("seed %d: after %v: Start, Size = %d, %d, want %d, %d", seed, op, m.Start(), m.Size(), s.start, s.size())
		}
	}
	w.steps = w.rec.Steps()
	if !closed {
		// The workload itself must be right before its images are judged.
		got := make([]byte, s.size()-s.start)
		if _, err := m.ReadAt(got, s.start); err != nil && len(got) > 0 {
			t.Fatalf("seed %d: reading the workload's dataset back: %v", seed, err)
		}
		if i := plFirstDiff(got, s.data[s.start:]); i >= 0 {
			t.Fatalf("seed %d: the workload's dataset reads %#x at offset %d, want %#x", seed, got[i], s.start+int64(i), s.data[s.start+int64(i)])
		}
		if err := m.Close(); err != nil {
			t.Fatalf("seed %d: Close: %v", seed, err)
		}
	}
	return w
}

// plFirstDiff returns the first index at which a and b differ, or -1;
// bytes.Equal first, since most comparisons find no difference.
func plFirstDiff(a, b []byte) int {
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

// plMakeV1 makes a dataset of format version 1 in dir through rec, with
// every file synced, and sets s to its model.
func plMakeV1(t *testing.T, rec *vfstest.Recorder, dir string, s *plModel, r *rand.Rand) {
	t.Helper()
	first := r.Int64N(2)
	s.start = first * plChunk
	s.data = make([]byte, s.start+r.Int64N(3*plChunk))
	for i := s.start; i < s.size(); i++ {
		s.data[i] = plByte(0, i)
	}
	write := func(name string, size int64, p []byte) {
		f, err := rec.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			err = f.Truncate(size)
			if err == nil {
				_, err = f.WriteAt(p, 0)
			}
			err = errors.Join(err, f.Sync(), f.Close())
		}
		if err != nil {
			t.Fatalf("seeding a version 1 dataset: %v", err)
		}
	}
	if err := rec.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for idx := first; idx*plChunk < s.size(); idx++ {
		write(chunk.Name(idx), plChunk, s.data[idx*plChunk:min(s.size(), (idx+1)*plChunk)])
	}
	// Format version 1 (manifest.go): magic, version, flags, chunk size,
	// first chunk, size, and the CRC-32C of the 40 bytes before it.
	b := make([]byte, 44)
	copy(b, "CHUNKMAP")
	binary.LittleEndian.PutUint32(b[8:], 1)
	binary.LittleEndian.PutUint64(b[16:], plChunk)
	binary.LittleEndian.PutUint64(b[24:], uint64(first))
	binary.LittleEndian.PutUint64(b[32:], uint64(s.size()))
	binary.LittleEndian.PutUint32(b[40:], crc32.Checksum(b[:40], crc32.MakeTable(crc32.Castagnoli)))
	write(chunkmap.ManifestName, 44, b)
	if err := rec.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

// plReopened is what opening an image gave.
type plReopened struct {
	openErr, readErr, closeErr error
	start, size                int64
	data                       []byte // [start, size)
	// staleAt is the first offset past the old Size that did not read as
	// zero after Truncate extended the dataset over it; -1 if none.
	staleAt int64
	extErr  error
}

// plReopenFS is the file system the images are opened with: a reboot
// (another boot ID), and no fsyncs, since an image is thrown away after
// its check.
func plReopenFS() vfs.FS {
	f := vfstest.NewFaulty(vfstest.WithBootID(vfs.OS, plBootReopen))
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, ""), Mode: vfstest.Skip})
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSyncDir, ""), Mode: vfstest.Skip})
	return f
}

// plImageDir writes im into a new directory under root and returns it;
// the caller removes it.
func plImageDir(t *testing.T, im *vfstest.Image, root string) string {
	t.Helper()
	dst, err := os.MkdirTemp(root, "image")
	if err != nil {
		t.Fatal(err)
	}
	if err := im.WriteDir(dst); err != nil {
		os.RemoveAll(dst)
		t.Fatal(err)
	}
	return dst
}

// plOpenImage opens the image in dst read-write through fsys, as after a
// reboot, with the options every power-loss reopen uses.
func plOpenImage(dst string, fsys vfs.FS) (*chunkmap.Manager, error) {
	opts := chunkmap.Options{ChunkSize: plChunk, ArenaSize: plArena, MaxMapped: 4}
	chunkmap.SetFS(&opts, fsys)
	return chunkmap.Open(dst, &opts)
}

// plReopen writes im into a new directory under root, opens it as after a
// reboot, reads it, extends it, and closes it.
func plReopen(t *testing.T, im *vfstest.Image, root string, fsys vfs.FS) plReopened {
	t.Helper()
	dst := plImageDir(t, im, root)
	defer os.RemoveAll(dst)
	res := plReopened{staleAt: -1}
	m, err := plOpenImage(dst, fsys)
	if err != nil {
		res.openErr = err
		return res
	}
	res.start, res.size = m.Start(), m.Size()
	res.data = make([]byte, max(0, res.size-res.start))
	if len(res.data) > 0 {
		_, res.readErr = m.ReadAt(res.data, res.start)
	}
	// Bytes past Size read as zeros when the dataset grows over them,
	// whatever unsynced writes or truncated data the chunks still hold.
	if res.readErr == nil && res.size < plLimit {
		ext := min(plLimit, res.size+plChunk+321)
		if res.extErr = m.Truncate(ext); res.extErr == nil {
			got := make([]byte, ext-res.size)
			if _, res.extErr = m.ReadAt(got, res.size); res.extErr == nil {
				if i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 }); i >= 0 {
					res.staleAt = res.size + int64(i)
				}
			}
		}
	}
	res.closeErr = m.Close()
	return res
}

// plViolation is an image that breaks an invariant.
type plViolation struct {
	seed  uint64
	cut   vfstest.Cut
	what  string
	image string
	ops   string
	steps string
}

func (v plViolation) String() string {
	return fmt.Sprintf("seed %d, cut after step %d with %d early name changes: %s\n  image: %s\n  operations: %s\n  steps: %s",
		v.seed, v.cut.After, v.cut.DirOps, v.what, v.image, v.ops, v.steps)
}

// plStats counts what a check looked at.
type plStats struct {
	cuts, images int // cuts checked; distinct images opened
	early        int // cuts with name changes written out before their SyncDir
}

// plReport reports the violations vs, as far as the first five of a run
// go (done were found before them), and returns how many there are.
func plReport(t *testing.T, vs []plViolation, done int) int {
	t.Helper()
	for j, v := range vs {
		if done+j < 5 {
			t.Errorf("violation: %v", v)
		}
	}
	return len(vs)
}

// plCheck checks every cut of w, stopping at the first violation if
// firstOnly, and returns the violations.
func plCheck(t *testing.T, w *plWorkload, root string, firstOnly bool, st *plStats) []plViolation {
	t.Helper()
	fsys := plReopenFS()
	var out []plViolation
	reopen := func(im *vfstest.Image) plReopened {
		st.images++
		return plReopen(t, im, root, fsys)
	}
	plEachCut(t, w.rec, w.dir, w.firstCut, w.steps, reopen, func(cut vfstest.Cut, im *vfstest.Image, res plReopened) bool {
		st.cuts++
		if cut.DirOps > 0 {
			st.early++
		}
		if what := w.judge(cut.After, res); what != "" {
			out = append(out, w.violation(cut, im, what))
			return !firstOnly
		}
		return true
	})
	return out
}

// plEachCut calls visit with every cut of rec's recording of dir after
// steps from to to (each with as many of the step's early name changes as
// it may keep), the image it leaves, and reopen's result for that image,
// until visit returns false. reopen runs once per distinct image: many
// cuts leave the same bytes and names.
func plEachCut[R any](t *testing.T, rec *vfstest.Recorder, dir string, from, to int, reopen func(*vfstest.Image) R, visit func(vfstest.Cut, *vfstest.Image, R) bool) {
	t.Helper()
	cache := make(map[string]R)
	for k := from; k <= to; k++ {
		for p := 0; p <= rec.DirOps(dir, k); p++ {
			cut := vfstest.Cut{After: k, DirOps: p}
			im, err := rec.Image(dir, cut)
			if err != nil {
				t.Fatal(err)
			}
			res, ok := cache[im.Key()]
			if !ok {
				res = reopen(im)
				cache[im.Key()] = res
			}
			if !visit(cut, im, res) {
				return
			}
		}
	}
}

// plCand is a record an image may hold: its Start and Size, and the
// operation after which the model holds the bytes that the Sync that wrote
// it (or whose record a Truncate or DropBefore then changed) made durable.
type plCand struct {
	ext   plExtent
	after int
}

// judge returns what is wrong with res as the image of a cut after step k,
// or "".
func (w *plWorkload) judge(k int, res plReopened) string {
	if res.openErr != nil {
		return fmt.Sprintf("Open failed: %v", res.openErr)
	}
	// A is the last acknowledged Sync whose steps all precede the cut;
	// none (-1) means the empty dataset Open made.
	ai := -1
	for i := range w.ops {
		if w.acked[i] && w.ops[i].to <= k {
			ai = i
		}
	}
	a := w.snaps[ai]
	// The records that operations after A and before the cut may have
	// written: a Sync records Start and Size as they were when it began,
	// after making every byte written before then durable; a Truncate
	// lowers the recorded Size; a DropBefore raises the recorded Start
	// (and Size with it, if needed).
	cands := []plCand{{a.extent(), ai}}
	for i := ai + 1; i < len(w.ops) && w.ops[i].from < k; i++ {
		op := w.ops[i]
		switch op.kind {
		case plSync, plClose, plCloseOpen:
			cands = append(cands, plCand{op.before, i - 1})
		case plTruncate:
			for _, c := range cands {
				cands = append(cands, plCand{plExtent{c.ext.start, min(c.ext.size, op.off)}, c.after})
			}
		case plDrop:
			if first := op.off / plChunk * plChunk; first > op.before.start {
				for _, c := range cands {
					cands = append(cands, plCand{plExtent{first, max(c.ext.size, first)}, c.after})
				}
			}
		}
	}
	got := plExtent{res.start, res.size}
	var bad string
	for _, c := range cands {
		if c.ext != got {
			continue
		}
		if bad = w.checkBytes(k, c.after, res); bad == "" {
			break
		}
	}
	switch {
	case bad != "":
		return bad
	case !slices.ContainsFunc(cands, func(c plCand) bool { return c.ext == got }):
		exts := make([]plExtent, 0, len(cands)-1)
		for _, c := range cands[1:] {
			if !slices.Contains(exts, c.ext) {
				exts = append(exts, c.ext)
			}
		}
		return fmt.Sprintf("Start, Size = %d, %d: neither the last acknowledged Sync's (op #%d: %d, %d) nor one a later operation could record %v",
			res.start, res.size, ai, a.start, a.size(), exts)
	case res.extErr != nil:
		return fmt.Sprintf("extending the reopened dataset from Size %d: %v", res.size, res.extErr)
	case res.staleAt >= 0:
		return fmt.Sprintf("offset %d, past the reopened Size %d, reads non-zero after Truncate extended the dataset over it", res.staleAt, res.size)
	case res.closeErr != nil:
		return fmt.Sprintf("Close of the reopened Manager: %v", res.closeErr)
	}
	return ""
}

// checkBytes checks that res, the image of a cut after step k, holds
// every byte of the model after operation ref, in [Start, min(Size, the
// model's Size)), that no operation after ref and before the cut touched.
func (w *plWorkload) checkBytes(k, ref int, res plReopened) string {
	if res.readErr != nil {
		return fmt.Sprintf("ReadAt [%d, %d): %v", res.start, res.size, res.readErr)
	}
	want := w.snaps[ref]
	var touched [][2]int64
	for i := ref + 1; i < len(w.ops) && w.ops[i].from < k; i++ {
		touched = append(touched, w.changed[i]...)
	}
	slices.SortFunc(touched, func(x, y [2]int64) int { return cmp.Compare(x[0], y[0]) })
	for _, gap := range plGaps(res.start, min(res.size, want.size()), touched) {
		g, m := res.data[gap[0]-res.start:gap[1]-res.start], want.data[gap[0]:gap[1]]
		if i := plFirstDiff(g, m); i >= 0 {
			off := gap[0] + int64(i)
			what := fmt.Sprintf("acknowledged by op #%d", ref)
			if !w.acked[ref] {
				what = fmt.Sprintf("covered by the record of the Sync after op #%d", ref)
			}
			return fmt.Sprintf("offset %d (chunk %d) reads %#x, want %#x as %s and untouched since", off, off/plChunk, g[i], m[i], what)
		}
	}
	return ""
}

// plGaps returns the parts of [lo, hi) that no range in sorted touches.
func plGaps(lo, hi int64, sorted [][2]int64) [][2]int64 {
	var out [][2]int64
	for _, r := range sorted {
		if lo >= hi {
			break
		}
		if r[1] <= lo || r[0] >= r[1] {
			continue
		}
		if r[0] > lo {
			out = append(out, [2]int64{lo, min(r[0], hi)})
		}
		lo = max(lo, r[1])
	}
	if lo < hi {
		out = append(out, [2]int64{lo, hi})
	}
	return out
}

// violation describes a violation at cut c of image im.
func (w *plWorkload) violation(c vfstest.Cut, im *vfstest.Image, what string) plViolation {
	ops := make([]string, len(w.ops))
	for i, op := range w.ops {
		ops[i] = op.String()
	}
	// The steps of the operation in progress at the cut, and the cut's.
	from := 1
	for _, op := range w.ops {
		if op.from < c.After {
			from = op.from + 1
		}
	}
	var steps []string
	for _, s := range w.rec.Log(from, c.After+1) {
		mark := ""
		if s.N == c.After+1 {
			mark = " (not made)"
		}
		steps = append(steps, s.String()+mark)
	}
	img := im.String()
	if f, ok := im.File(chunkmap.ManifestName); ok {
		img += "; " + plDescribeManifest(f.Data)
	}
	return plViolation{seed: w.seed, cut: c, what: what, image: img, ops: strings.Join(ops, "; "), steps: strings.Join(steps, "; ")}
}

// plDescribeManifest decodes the records and the state page of a manifest
// file (format version 2, see manifest.go), for reports.
func plDescribeManifest(b []byte) string {
	if len(b) != 4096 {
		return fmt.Sprintf("MANIFEST is %d bytes", len(b))
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	var parts []string
	for i, off := range []int{0, 512} {
		r := b[off : off+64]
		le := binary.LittleEndian
		valid := string(r[:8]) == "CHUNKMAP" && le.Uint32(r[60:]) == crc32.Checksum(r[:60], castagnoli)
		parts = append(parts, fmt.Sprintf("record %c: valid %v seq %d first %d size %d",
			'A'+i, valid, le.Uint64(r[40:]), le.Uint64(r[24:]), le.Uint64(r[32:])))
	}
	st := b[2048:]
	parts = append(parts, fmt.Sprintf("state page: boot %q start %d size %d clean %d",
		strings.TrimRight(string(st[8:56]), "\x00"), binary.LittleEndian.Uint64(st[64:]), binary.LittleEndian.Uint64(st[72:]), binary.LittleEndian.Uint32(st[80:])))
	return strings.Join(parts, ", ")
}

// plImageRoot returns the directory to write images in: a new one in
// /dev/shm where that is a writable tmpfs, else t.TempDir(). Each image is
// written, opened, extended and deleted once, and on ext4 that costs about
// 7 ms an image against 1 ms on tmpfs (24 workloads, 2,560 images: 18.4 s
// against 2.5 s on the 2-core reference machine); the workloads
// themselves run in t.TempDir().
func plImageRoot(t *testing.T) (dir string, tmpfs bool) {
	t.Helper()
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994 // statfs(2)
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic {
		if d, err := os.MkdirTemp("/dev/shm", "chunkmap-powerloss-"); err == nil {
			t.Cleanup(func() {
				if err := os.RemoveAll(d); err != nil {
					t.Error(err)
				}
			})
			return d, true
		}
	}
	return t.TempDir(), false
}

// plSeed returns the first seed: CHUNKMAP_POWERLOSS_SEED, or the clock.
func plSeed() uint64 {
	if v, err := strconv.ParseUint(os.Getenv("CHUNKMAP_POWERLOSS_SEED"), 10, 64); err == nil {
		return v
	}
	return uint64(time.Now().UnixNano())
}

// TestPowerLoss runs random workloads and checks the image of every cut of
// each (see the top of this file). CHUNKMAP_POWERLOSS_WORKLOADS=N runs N
// workloads; CHUNKMAP_POWERLOSS_SEED=S starts from seed S (workload i has
// seed S+i).
func TestPowerLoss(t *testing.T) {
	root := t.TempDir()
	images, tmpfs := plImageRoot(t)
	n := plWorkloads
	if !tmpfs {
		n = plWorkloadsSlow
	}
	if v, err := strconv.Atoi(os.Getenv("CHUNKMAP_POWERLOSS_WORKLOADS")); err == nil && v > 0 {
		n = v
	} else if testing.Short() {
		n = 3
	} else if raceEnabled {
		n /= 6 // the race detector finds races in a few; the rest is CI time
	}
	seed := plSeed()
	t.Logf("seed %d, %d workloads (CHUNKMAP_POWERLOSS_SEED, CHUNKMAP_POWERLOSS_WORKLOADS), images in %s", seed, n, images)
	var (
		st         plStats
		violations int
		steps, v1  int
	)
	start := time.Now()
	for i := range n {
		w := plRun(t, root, seed+uint64(i), nil, false)
		steps += w.steps
		if w.firstCut > 0 {
			v1++
		}
		violations += plReport(t, plCheck(t, w, images, false, &st), violations)
		if err := os.RemoveAll(filepath.Dir(w.dir)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d workloads (%d upgrading a version 1 dataset), %d recorded steps, %d cuts checked (%d with early name changes; %d distinct images opened), %d violations, in %v",
		n, v1, steps, st.cuts, st.early, st.images, violations, time.Since(start).Round(time.Millisecond))
	if violations > 0 {
		t.Errorf("%d of %d cuts broke an invariant (first seed %d)", violations, st.cuts, seed)
	}
}

// TestPowerLoss_AfterCrash is TestPowerLoss over workloads in which the
// process crashes now and then (about one operation in eight) and Open
// recovers the dataset from the page cache, and a power loss follows
// later: what the last Sync acknowledged must be there all the same, and
// nothing Open does on recovery (removing files past the recovered Size
// or below Start, before any Sync) may leave a dataset the records do not
// describe.
func TestPowerLoss_AfterCrash(t *testing.T) {
	root := t.TempDir()
	images, tmpfs := plImageRoot(t)
	n := plWorkloads / 4
	if !tmpfs {
		n = plWorkloadsSlow / 4
	}
	if v, err := strconv.Atoi(os.Getenv("CHUNKMAP_POWERLOSS_WORKLOADS")); err == nil && v > 0 {
		n = v
	} else if testing.Short() {
		n = 3
	} else if raceEnabled {
		n /= 4
	}
	seed := plSeed()
	t.Logf("seed %d, %d workloads (CHUNKMAP_POWERLOSS_SEED, CHUNKMAP_POWERLOSS_WORKLOADS)", seed, n)
	var st plStats
	violations, crashes := 0, 0
	for i := range n {
		w := plRun(t, root, seed+uint64(i), nil, true)
		for _, op := range w.ops {
			if op.kind == plCrashOpen {
				crashes++
			}
		}
		violations += plReport(t, plCheck(t, w, images, false, &st), violations)
		if err := os.RemoveAll(filepath.Dir(w.dir)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d workloads, %d crashes, %d cuts checked, %d violations", n, crashes, st.cuts, violations)
	if crashes == 0 {
		t.Errorf("no workload crashed: the test checks nothing of recovery")
	}
	if violations > 0 {
		t.Errorf("%d of %d cuts broke an invariant (first seed %d)", violations, st.cuts, seed)
	}
}

// TestPowerLoss_SimulatedBugs checks that the simulator catches known
// bugs, simulated with a Faulty under the Manager: each must show in at
// least one image.
func TestPowerLoss_SimulatedBugs(t *testing.T) {
	tests := []struct {
		name string
		bug  plBug
	}{
		{"removed fsync of chunk files", func(f *vfstest.Faulty) {
			f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, "*.chunk"), Mode: vfstest.Skip})
		}},
		{"rename of MANIFEST.tmp before its fsync", func(f *vfstest.Faulty) {
			f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, chunkmap.ManifestName+".tmp"), Mode: vfstest.SyncAfterRename})
		}},
		// Two more, whose images open: they must be caught by the checks
		// of Start and Size, and of the bytes.
		{"removed fsync of the manifest records", func(f *vfstest.Faulty) {
			f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, chunkmap.ManifestName), Mode: vfstest.Skip})
		}},
		{"chunk files fsynced only the first time", func(f *vfstest.Faulty) {
			synced := make(map[string]bool)
			f.Add(vfstest.Rule{Mode: vfstest.Skip, Match: func(op, path string) bool {
				if op != vfstest.OpSync || filepath.Ext(path) != ".chunk" {
					return false
				}
				again := synced[path]
				synced[path] = true
				return again
			}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := plSeed()
			t.Logf("seed %d", seed)
			root := t.TempDir()
			images, _ := plImageRoot(t)
			var st plStats
			for i := range 20 {
				w := plRun(t, root, seed+uint64(i), tt.bug, false)
				if vs := plCheck(t, w, images, true, &st); len(vs) > 0 {
					t.Logf("caught after %d workloads, %d cuts: %v", i+1, st.cuts, vs[0])
					return
				}
			}
			t.Errorf("no violation in 20 workloads (%d cuts, %d images): the simulator misses the bug", st.cuts, st.images)
		})
	}
}

// faultDataset opens a new dataset through a Faulty over the operating
// system's file system and returns both.
func faultDataset(t *testing.T, opts chunkmap.Options) (*chunkmap.Manager, *vfstest.Faulty, string) {
	t.Helper()
	f := vfstest.NewFaulty(nil)
	dir := filepath.Join(t.TempDir(), "ds")
	opts.ChunkSize = plChunk
	chunkmap.SetFS(&opts, f)
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, f, dir
}

// faultWrite writes n bytes of generation gen at off, failing the test on
// an error.
func faultWrite(t *testing.T, m *chunkmap.Manager, gen int, off, n int64) {
	t.Helper()
	p := make([]byte, n)
	for i := range p {
		p[i] = plByte(gen, off+int64(i))
	}
	if _, err := m.WriteAt(p, off); err != nil {
		t.Fatalf("WriteAt(%d bytes at %d): %v", n, off, err)
	}
}

// faultReopen opens dir as after a reboot, so that the manifest's newest
// record decides Start and Size, and checks that [off, off+n) holds what
// faultWrite wrote with gen.
func faultReopen(t *testing.T, dir string, size int64, checks ...[3]int64) {
	t.Helper()
	opts := chunkmap.Options{}
	chunkmap.SetFS(&opts, vfstest.WithBootID(vfs.OS, plBootReopen))
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close of the reopened dataset: %v", err)
		}
	}()
	if m.Size() != size {
		t.Errorf("reopened Size = %d, want %d", m.Size(), size)
	}
	for _, c := range checks {
		gen, off, n := int(c[0]), c[1], c[2]
		got := make([]byte, n)
		if _, err := m.ReadAt(got, off); err != nil {
			t.Fatalf("ReadAt(%d bytes at %d): %v", n, off, err)
		}
		for i, b := range got {
			if want := plByte(gen, off+int64(i)); b != want {
				t.Fatalf("reopened: offset %d reads %#x, want %#x", off+int64(i), b, want)
			}
		}
	}
}

// TestFaultInjection_ChunkFsyncEIO checks that a failed fsync of a chunk
// file fails that Sync and every later one, and later writes too: the
// kernel may have dropped the dirty pages.
func TestFaultInjection_ChunkFsyncEIO(t *testing.T) {
	for _, maxMapped := range []int{1, 4} {
		t.Run(fmt.Sprintf("MaxMapped=%d", maxMapped), func(t *testing.T) {
			m, f, _ := faultDataset(t, chunkmap.Options{MaxMapped: maxMapped, NoAdmission: true})
			defer m.Close()
			faultWrite(t, m, 1, 0, 3*plChunk)
			if err := m.Sync(); err != nil {
				t.Fatalf("first Sync: %v", err)
			}
			faultWrite(t, m, 2, 100, 1000)
			faultWrite(t, m, 2, 2*plChunk+100, 1000)
			rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, "*.chunk"), Err: syscall.EIO, Times: 1})
			if err := m.Sync(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Sync with an fsync failing: %v, want EIO", err)
			}
			if f.Fired(rule) != 1 {
				t.Fatalf("the EIO rule fired %d times, want 1", f.Fired(rule))
			}
			// The fault is gone, but the failure stays.
			for i := range 3 {
				if err := m.Sync(); err == nil || !errors.Is(err, syscall.EIO) {
					t.Errorf("Sync %d after the failure: %v, want the EIO again", i+2, err)
				}
			}
			if _, err := m.WriteAt([]byte("x"), 10); err == nil {
				t.Errorf("WriteAt after a failed fsync succeeded, want the failure")
			}
			if _, err := m.Append([]byte("x")); err == nil {
				t.Errorf("Append after a failed fsync succeeded, want the failure")
			}
			if err := m.Close(); err == nil {
				t.Errorf("Close after a failed fsync returned nil, which acknowledges what the fsync lost")
			}
		})
	}
}

// TestFaultInjection_ManifestENOSPC checks that a full disk while the
// manifest record is written fails that Sync only: the next one succeeds,
// and what it acknowledged is there after a reboot.
func TestFaultInjection_ManifestENOSPC(t *testing.T) {
	m, f, dir := faultDataset(t, chunkmap.Options{MaxMapped: 2})
	faultWrite(t, m, 1, 0, plChunk+5000)
	rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, chunkmap.ManifestName), Err: syscall.ENOSPC, Times: 1})
	err := m.Sync()
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("Sync with the manifest write failing: %v, want ENOSPC and ErrNoSpace", err)
	}
	if f.Fired(rule) != 1 {
		t.Fatalf("the ENOSPC rule fired %d times, want 1", f.Fired(rule))
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync after the disk has room again: %v", err)
	}
	faultWrite(t, m, 2, plChunk+5000, 3000)
	if err := m.Sync(); err != nil {
		t.Fatalf("third Sync: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	faultReopen(t, dir, plChunk+8000, [3]int64{1, 0, plChunk + 5000}, [3]int64{2, plChunk + 5000, 3000})
}

// TestFaultInjection_EMFILEDuringSync checks that running out of file
// descriptors while Sync opens an evicted chunk's file fails that Sync
// only: the next one syncs the chunk, and the data is there after a
// reboot.
func TestFaultInjection_EMFILEDuringSync(t *testing.T) {
	m, f, dir := faultDataset(t, chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	const chunks = 4
	if err := m.Truncate(chunks * plChunk); err != nil {
		t.Fatal(err)
	}
	for i := range int64(chunks) {
		faultWrite(t, m, 1, i*plChunk+1000, 2000) // through the mapping, evicting the chunk before
	}
	// Chunk 1's open fails, and so does every try the Manager makes
	// after giving back its idle cached files and its unheld chunks.
	// (With the evicted chunks' files still cached, Sync would fsync
	// through them and open none.)
	chunkmap.DropFileCache(m)
	rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, "*1.chunk"), Err: syscall.EMFILE})
	if err := m.Sync(); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Sync with an open failing: %v, want EMFILE", err)
	}
	if n := f.Fired(rule); n < 1 {
		t.Fatalf("the EMFILE rule fired %d times, want at least 1", n)
	}
	f.Disarm(rule)
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync after descriptors are available again: %v", err)
	}
	faultWrite(t, m, 2, 3*plChunk+5000, 100)
	if err := m.Sync(); err != nil {
		t.Fatalf("third Sync: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var checks [][3]int64
	for i := range int64(chunks) {
		checks = append(checks, [3]int64{1, i*plChunk + 1000, 2000})
	}
	faultReopen(t, dir, chunks*plChunk, append(checks, [3]int64{2, 3*plChunk + 5000, 100})...)
}
