package chunkmap

// TestTopOfRange walks a dataset that sits in the top chunks of the int64
// range (a valid manifest: the first chunk's index is MaxInt64>>16 or a
// few below it) through every exported call of the Manager, at offsets
// near math.MaxInt64. Every call runs in a goroutine with a time limit, so
// that a call that spins over ~2^47 chunk indices fails the test within
// seconds instead of hanging it, and a panic fails it instead of killing
// the binary. After each call the dataset must reopen (read-write and
// read-only) with the Size and Start the Manager reported, and hold what an
// in-memory model says.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

const (
	torCS    = MinChunkSize              // 64 KiB chunks: four of them are the whole dataset
	torShift = 16                        // log2(torCS)
	torTop   = math.MaxInt64 >> torShift // index of the top chunk
	torT     = int64(torTop) << torShift // its first offset
	torMax   = int64(math.MaxInt64)      // the largest Size
	torWait  = time.Minute               // the most any one call may take: only a hang comes near it
	torStale = 0xee                      // bytes past Size in the chunk files
	torBulk  = 70000                     // a write length past bulkWrite, across a chunk boundary
)

// torHung is set once a call has not returned in time: that call still
// holds the Manager's locks, and every later case would wait for them too.
var torHung atomic.Bool

// torModel is what the dataset must hold: data covers [base, 2^63), the
// initial Start up to the end of the top chunk, and bytes at or past size
// are zero (bytes past Size read as zeros once Size covers them again).
type torModel struct {
	base        int64
	data        []byte
	start, size int64
}

// bytes returns the model's n bytes at off, which lie in [base, 2^63).
func (md *torModel) bytes(off, n int64) []byte {
	return md.data[off-md.base : off-md.base+n]
}

// inRange reports whether [off, off+n) lies within [Start, Size), as
// checkRange requires (a zero-length range must start below Size).
func (md *torModel) inRange(off, n int64) bool {
	return n >= 0 && off >= md.start && off <= torMax-n && off+n <= md.size && (n > 0 || off < md.size)
}

// setSize sets Size, zeroing what a shrink leaves past it.
func (md *torModel) setSize(size int64) {
	if size < md.size {
		clear(md.bytes(size, md.size-size))
	}
	md.size = size
}

// write stores p at off and extends Size over it; an empty p changes
// nothing.
func (md *torModel) write(p []byte, off int64) {
	if len(p) == 0 {
		return
	}
	copy(md.bytes(off, int64(len(p))), p)
	md.size = max(md.size, off+int64(len(p)))
}

// torByte is the byte the built dataset holds at offset o below Size: never
// zero, so that a read of zeros is told apart.
func torByte(o int64) byte { return byte(o*7+o>>9) | 1 }

// torPattern returns n bytes for writes, distinct per seed and never zero.
func torPattern(seed, n int64) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(int64(i)*13+seed*29) | 0x80
	}
	return p
}

// torBuild writes a dataset of 64 KiB chunks from chunk first with the
// given Size into a new directory: a version 2 manifest, and chunk files
// [first, chunksFor(size)) of exactly ChunkSize bytes, sparse but for a few
// runs at the start, the middle and the end of each, holding torByte below
// Size and torStale past it (as a crash during growth may leave them).
func torBuild(t *testing.T, first, size int64) (string, *torModel) {
	t.Helper()
	dir := t.TempDir()
	if err := createManifest(vfs.OS, dir, manifest{chunkSize: torCS, first: first, size: size}, 0o644, nil, [48]byte{}); err != nil {
		t.Fatal(err)
	}
	md := &torModel{base: first << torShift, data: make([]byte, (torTop+1-first)<<torShift), start: first << torShift, size: size}
	for idx := first; idx < chunksFor(size, torShift); idx++ {
		path := filepath.Join(dir, chunk.Name(idx))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(torCS); err != nil {
			t.Fatal(err)
		}
		for _, at := range []int64{0, torCS/2 - 2048, torCS - 4096} {
			b := make([]byte, 4096)
			for i := range b {
				o := idx<<torShift + at + int64(i) // at most MaxInt64
				if o < size {
					b[i] = torByte(o)
					md.data[o-md.base] = b[i]
				} else {
					b[i] = torStale
				}
			}
			if _, err := f.WriteAt(b, at); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir, md
}

// torRun is one case: a dataset, its writer, a reader following it, and
// the model.
type torRun struct {
	t      *testing.T
	dir    string
	opts   Options
	m      *Manager // the writer
	r      *Manager // a ReadOnly Manager following it
	md     *torModel
	closed bool // the op closed m
	hung   bool
	// buf is check's buffer, kept for the next check: under the race
	// detector every fresh allocation has its shadow memory cleared, which
	// for one of the dataset's size gives the pages back to the system to
	// be faulted in again (unless GORACE says otherwise, as .ci/run's
	// does). The reuse halved the test's time under -race.
	buf []byte
}

// call runs f in a goroutine and waits for it at most torWait. A panic in f
// fails the case; so does a call that does not return, which also stops
// every later case (see torHung).
func (r *torRun) call(what string, f func()) bool {
	r.t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	timer := time.NewTimer(torWait)
	defer timer.Stop()
	select {
	case p := <-done:
		if p != nil {
			r.t.Errorf("%s panicked: %v", what, p)
			return false
		}
		return true
	case <-timer.C:
		r.hung = true
		torHung.Store(true)
		r.t.Fatalf("%s did not return within %v (Start %d, Size %d): it spins or waits forever", what, torWait, r.md.start, r.md.size)
		return false
	}
}

// wantErr checks err against want: nil, or a sentinel it must match.
func (r *torRun) wantErr(what string, err, want error) bool {
	r.t.Helper()
	switch {
	case want == nil && crossChunkLimit(err):
		r.t.Logf("%s = %v: the platform's documented limit (README, Platforms)", what, err)
		return false
	case want == nil && err != nil:
		r.t.Errorf("%s = %v, want success", what, err)
		return false
	case want == errUnalignedOrOut:
		if !errors.Is(err, ErrUnaligned) && !errors.Is(err, ErrOutOfRange) {
			r.t.Errorf("%s = %v, want an error matching %v or %v", what, err, ErrUnaligned, ErrOutOfRange)
			return false
		}
	case want != nil && !errors.Is(err, want):
		r.t.Errorf("%s = %v, want an error matching %v", what, err, want)
		return false
	}
	return true
}

// errUnalignedOrOut stands, as wantErr's want, for ErrUnaligned or
// ErrOutOfRange: for an atomic at an offset that is not aligned and whose
// word would not lie within [Start, Size) either, both are right.
var errUnalignedOrOut = errors.New("ErrUnaligned or ErrOutOfRange")

// open opens the dataset within the time limit.
func (r *torRun) open(readOnly bool) *Manager {
	r.t.Helper()
	o := r.opts
	o.ReadOnly = readOnly
	var m *Manager
	var err error
	r.call(fmt.Sprintf("Open(ReadOnly %v)", readOnly), func() { m, err = Open(r.dir, &o) })
	if err != nil {
		r.t.Fatalf("Open(ReadOnly %v): %v", readOnly, err)
	}
	return m
}

// close closes m within the time limit.
func (r *torRun) close(m *Manager, what string) {
	r.t.Helper()
	var err error
	r.call(what+".Close()", func() { err = m.Close() })
	r.wantErr(what+".Close()", err, nil)
}

// check compares m's Start, Size and bytes with the model.
func (r *torRun) check(m *Manager, what string) {
	r.t.Helper()
	var start, size int64
	var p []byte
	var n int
	var err, eofErr error
	r.call(what+": Start, Size, ReadAt", func() {
		start, size = m.Start(), m.Size()
		if start != r.md.start || size != r.md.size {
			return
		}
		if int64(cap(r.buf)) < size-start {
			r.buf = make([]byte, size-start)
		}
		p = r.buf[:size-start]
		n, err = m.ReadAt(p, start)
		if size < torMax {
			_, eofErr = m.ReadAt(make([]byte, 1), size)
		} else {
			eofErr = io.EOF
		}
	})
	if start != r.md.start || size != r.md.size {
		r.t.Errorf("%s: Start, Size = %d, %d, want %d, %d", what, start, size, r.md.start, r.md.size)
		return
	}
	if err != nil || n != len(p) {
		r.t.Errorf("%s: ReadAt(%d bytes, %d) = %d, %v, want %d, nil", what, len(p), start, n, err, len(p))
		return
	}
	if eofErr != io.EOF {
		r.t.Errorf("%s: ReadAt(1 byte, Size %d) = %v, want io.EOF", what, size, eofErr)
	}
	if want := r.md.bytes(start, size-start); !bytes.Equal(p, want) {
		i := 0
		for p[i] == want[i] {
			i++
		}
		r.t.Errorf("%s: byte at offset %d = %#x, want %#x (Start %d, Size %d)", what, start+int64(i), p[i], want[i], start, size)
	}
}

// finish checks the writer and its follower against the model, closes both,
// and reopens the dataset read-write and read-only to check it again.
func (r *torRun) finish() {
	r.t.Helper()
	if !r.closed {
		r.check(r.m, "writer")
		r.check(r.r, "follower")
		r.close(r.m, "writer")
	}
	r.close(r.r, "follower")
	r.m, r.r = nil, nil
	for _, ro := range []bool{false, true} {
		m := r.open(ro)
		r.check(m, fmt.Sprintf("reopened (ReadOnly %v)", ro))
		r.close(m, "reopened")
	}
}

// torOp is one call (or a few related ones) to make on a dataset: a fresh
// one if it mutates it, else one shared with the other calls that do not.
type torOp struct {
	name    string
	mutates bool
	run     func(r *torRun)
}

// TestTopOfRange: see the top of this file.
func TestTopOfRange(t *testing.T) {
	type dataset struct{ first, size int64 }
	var sets []dataset
	for _, first := range []int64{torTop, torTop - 1, torTop - 3} {
		start := first << torShift
		seen := map[int64]bool{}
		for _, size := range []int64{start, start + torCS/2, torT + torCS/2, torMax} {
			if !seen[size] {
				seen[size] = true
				sets = append(sets, dataset{first, size})
			}
		}
	}
	optSets := []struct {
		name string
		opts Options
	}{
		{"default", Options{ChunkSize: torCS}},
		// Two slots: chunks top-2 and top-1 wrap around the arena's end,
		// so ranges across them take private views; and every miss maps,
		// evicting the one chunk mapped.
		{"smallarena", Options{ChunkSize: torCS, NoAdmission: true, MaxMapped: 1, ArenaSize: 2 * torCS}},
	}
	for _, ds := range sets {
		for _, oc := range optSets {
			prefix := fmt.Sprintf("first=top-%d/size=max-%d/%s", torTop-ds.first, torMax-ds.size, oc.name)
			ops := torOps(ds.first<<torShift, ds.size)
			// The calls that change nothing share one dataset.
			t.Run(prefix+"/reads", func(t *testing.T) {
				t.Parallel()
				r := torStart(t, ds.first, ds.size, oc.opts)
				defer r.stop()
				for _, op := range ops {
					if op.mutates {
						continue
					}
					t.Run(op.name, func(t *testing.T) {
						if torHung.Load() {
							t.Skip("an earlier call did not return")
						}
						r.t = t
						op.run(r)
						r.check(r.m, "writer")
					})
				}
				r.t = t
				if !torHung.Load() {
					r.finish()
				}
			})
			for _, op := range ops {
				if !op.mutates {
					continue
				}
				t.Run(prefix+"/"+op.name, func(t *testing.T) {
					t.Parallel() // each has a dataset of its own
					r := torStart(t, ds.first, ds.size, oc.opts)
					defer r.stop()
					op.run(r)
					r.finish()
				})
			}
		}
	}
}

// torStart builds a dataset and opens its writer and a follower, unless an
// earlier call hung.
func torStart(t *testing.T, first, size int64, opts Options) *torRun {
	t.Helper()
	if torHung.Load() {
		t.Skip("an earlier call did not return")
	}
	dir, md := torBuild(t, first, size)
	r := &torRun{t: t, dir: dir, opts: opts, md: md}
	r.m = r.open(false)
	r.r = r.open(true)
	r.check(r.m, "writer as opened")
	return r
}

// stop closes what finish did not, unless a call hung: it holds the
// Manager's locks, and Close would wait for them.
func (r *torRun) stop() {
	if r.hung || torHung.Load() {
		return
	}
	if r.m != nil && !r.closed {
		r.m.Close()
	}
	if r.r != nil {
		r.r.Close()
	}
}

// torOps returns the calls to make on a dataset with the given Start and
// Size.
func torOps(start, size int64) []torOp {
	var ops []torOp
	seen := map[string]bool{}
	add := func(name string, mutates bool, run func(r *torRun)) {
		if !seen[name] { // the lists below repeat offsets where the dataset is small
			seen[name] = true
			ops = append(ops, torOp{name, mutates, run})
		}
	}

	// ReadAt.
	for _, c := range []struct{ off, n int64 }{
		{start, 16}, {start, size - start + 8}, {torT - 8, 16}, {size - 8, 8}, {size, 1},
		{torMax - 8, 8}, {torMax - 4, 8}, {torMax, 1}, {torMax, 0}, {torMax - torBulk, torBulk},
		{start - 1, 1}, {-1, 1}, {math.MinInt64, 1},
	} {
		add(fmt.Sprintf("ReadAt(%d,%s)", c.n, torName(c.off)), false, func(r *torRun) {
			md := r.md
			p := make([]byte, c.n)
			var n int
			var err error
			r.call("ReadAt", func() { n, err = r.m.ReadAt(p, c.off) })
			wantN, want := 0, error(nil)
			switch {
			case c.off < 0 || c.n > torMax-c.off:
				want = ErrOutOfRange
			case c.n == 0:
			case c.off < md.start:
				want = ErrOutOfRange
			case c.off >= md.size:
				want = io.EOF
			default:
				wantN = int(min(c.n, md.size-c.off))
				if int64(wantN) < c.n {
					want = io.EOF
				}
			}
			if n != wantN || !r.wantErr("ReadAt", err, want) {
				r.t.Errorf("ReadAt(%d bytes, %d) = %d, %v, want %d, %v", c.n, c.off, n, err, wantN, want)
				return
			}
			if wantN > 0 && !bytes.Equal(p[:n], md.bytes(c.off, int64(n))) {
				r.t.Errorf("ReadAt(%d bytes, %d): wrong bytes", c.n, c.off)
			}
		})
	}

	// WriteAt: inside, across into the top chunk, at and past Size, ending
	// exactly at MaxInt64, past it.
	for _, c := range []struct{ off, n int64 }{
		{start, 16}, {torT - 8, 16}, {size, 16}, {min(size, torMax-116) + 100, 16}, {torMax - 16, 16},
		{torMax - torBulk, torBulk}, {torT - torCS - 100, torBulk}, {torT + 100, torBulk},
		{torMax - 8, 16}, {torMax, 1}, {torMax, 0}, {start - 1, 16}, {-1, 1}, {math.MinInt64, 1},
	} {
		add(fmt.Sprintf("WriteAt(%d,%s)", c.n, torName(c.off)), true, func(r *torRun) {
			md := r.md
			p := torPattern(c.off, c.n)
			var n int
			var err error
			r.call("WriteAt", func() { n, err = r.m.WriteAt(p, c.off) })
			var want error
			switch {
			case c.off < 0 || c.n > torMax-c.off:
				want = ErrOutOfRange
			case c.n == 0:
			case c.off < md.start:
				want = ErrOutOfRange
			}
			if !r.wantErr(fmt.Sprintf("WriteAt(%d bytes, %d)", c.n, c.off), err, want) {
				return
			}
			if want == nil {
				if n != len(p) {
					r.t.Errorf("WriteAt(%d bytes, %d) = %d, want %d", c.n, c.off, n, len(p))
				}
				md.write(p, c.off)
			}
		})
	}

	// Append, which must fail with ErrOutOfRange, changing nothing, when
	// it would pass MaxInt64.
	for _, n := range []int64{0, 16, torBulk, torMax - size, torMax - size + 1} {
		if n > 4*torCS+1 {
			continue
		}
		add(fmt.Sprintf("Append(%d)", n), true, func(r *torRun) {
			md := r.md
			p := torPattern(n, n)
			var off int64
			var err error
			r.call("Append", func() { off, err = r.m.Append(p) })
			var want error
			if n > torMax-md.size {
				want = ErrOutOfRange
			}
			if !r.wantErr(fmt.Sprintf("Append(%d bytes) at Size %d", n, md.size), err, want) || want != nil {
				return
			}
			if off != md.size {
				r.t.Errorf("Append(%d bytes) = %d, want %d", n, off, md.size)
			}
			md.write(p, md.size)
		})
	}

	// Truncate.
	truncs := []int64{torMax, torMax - 5, start, start - 1, torT, torT + torCS/2, size, -1, math.MinInt64}
	if size > start {
		truncs = append(truncs, size-1)
	}
	if size < torMax {
		truncs = append(truncs, size+1)
	}
	for _, to := range truncs {
		add(fmt.Sprintf("Truncate(%s)", torName(to)), true, func(r *torRun) {
			var err error
			r.call("Truncate", func() { err = r.m.Truncate(to) })
			var want error
			if to < r.md.start {
				want = ErrOutOfRange
			}
			if r.wantErr(fmt.Sprintf("Truncate(%d)", to), err, want) && want == nil {
				r.md.setSize(to)
			}
		})
	}

	// Grow.
	for _, n := range []int64{0, 1, torMax - size, torMax - size + 1, -1, torMax, math.MinInt64} {
		add(fmt.Sprintf("Grow(%d)", n), true, func(r *torRun) {
			var err error
			var chunks int
			r.call("Grow", func() {
				err = r.m.Grow(n)
				chunks = r.m.Stats().Chunks
			})
			var want error
			if n < 0 || n > torMax-r.md.size {
				want = ErrOutOfRange
			}
			if r.wantErr(fmt.Sprintf("Grow(%d) at Size %d", n, r.md.size), err, want) && want == nil {
				if need := chunksFor(r.md.size+n, torShift) - r.md.start>>torShift; int64(chunks) < need {
					r.t.Errorf("Grow(%d) at Size %d: Stats().Chunks = %d, want at least %d", n, r.md.size, chunks, need)
				}
			}
		})
	}

	// DropBefore.
	drops := []int64{size, torMax, start, torT, torT + torCS/2, -1, math.MinInt64}
	if size < torMax {
		drops = append(drops, size+1)
	}
	for _, off := range drops {
		add(fmt.Sprintf("DropBefore(%s)", torName(off)), true, func(r *torRun) {
			var err error
			r.call("DropBefore", func() { err = r.m.DropBefore(off) })
			var want error
			if off < 0 || off > r.md.size {
				want = ErrOutOfRange
			}
			if r.wantErr(fmt.Sprintf("DropBefore(%d) at Size %d", off, r.md.size), err, want) && want == nil {
				r.md.start = max(r.md.start, off&^(torCS-1))
			}
		})
	}

	// Ranges for Pin, PinWritable and Batch.
	ranges := []struct{ off, n int64 }{
		{start, 16}, {torT - 8, 16}, {size - 8, 8}, {torMax - 8, 8}, {torMax - 4, 8},
		{torMax, 0}, {size, 0}, {start, 0}, {start, size - start}, {torT, torCS - 1},
		{-1, 8}, {start, -1}, {math.MinInt64, 8}, {torMax, 1},
	}
	for _, c := range ranges {
		for _, write := range []bool{false, true} {
			name := "Pin"
			if write {
				name = "PinWritable"
			}
			add(fmt.Sprintf("%s(%s,%d)", name, torName(c.off), c.n), write, func(r *torRun) {
				md := r.md
				var p *Pinned
				var err error
				r.call(name, func() {
					if write {
						p, err = r.m.PinWritable(c.off, int(c.n))
					} else {
						p, err = r.m.Pin(c.off, int(c.n))
					}
				})
				var want error
				if !md.inRange(c.off, c.n) {
					want = ErrOutOfRange
				}
				what := fmt.Sprintf("%s(%d, %d) in [%d, %d)", name, c.off, c.n, md.start, md.size)
				if !r.wantErr(what, err, want) || want != nil {
					return
				}
				r.call(name+" bytes", func() {
					defer p.Release()
					b := p.Bytes()
					if int64(len(b)) != c.n || !bytes.Equal(b, md.bytes(c.off, c.n)) {
						r.t.Errorf("%s: wrong bytes", what)
						return
					}
					if write {
						copy(b, torPattern(c.off, c.n))
						md.write(torPattern(c.off, c.n), c.off)
					}
				})
			})

			name = "Batch.Bytes"
			if write {
				name = "Batch.WritableBytes"
			}
			add(fmt.Sprintf("%s(%s,%d)", name, torName(c.off), c.n), write, func(r *torRun) {
				md := r.md
				want := error(nil)
				if !md.inRange(c.off, c.n) {
					want = ErrOutOfRange
				}
				what := fmt.Sprintf("%s(%d, %d) in [%d, %d)", name, c.off, c.n, md.start, md.size)
				var err error
				r.call("Batch", func() {
					err = r.m.Batch(func(b *Batch) error {
						// Twice: the second call may take the fast path.
						for i := range 2 {
							var p []byte
							var err error
							if write {
								p, err = b.WritableBytes(c.off, int(c.n))
							} else {
								p, err = b.Bytes(c.off, int(c.n))
							}
							if !r.wantErr(fmt.Sprintf("%s, call %d", what, i+1), err, want) || want != nil {
								continue
							}
							if int64(len(p)) != c.n || !bytes.Equal(p, md.bytes(c.off, c.n)) {
								r.t.Errorf("%s, call %d: wrong bytes", what, i+1)
								continue
							}
							if write {
								q := torPattern(c.off+int64(i), c.n)
								copy(p, q)
								md.write(q, c.off)
							}
						}
						// Every chunk of the dataset, a byte at a time at
						// its edges, through the cache of runs.
						for idx := md.start >> torShift; idx < chunksFor(md.size, torShift); idx++ {
							for _, at := range []int64{max(idx<<torShift, md.start), min(idx<<torShift|(torCS-1), md.size-1)} {
								p, err := b.Bytes(at, 1)
								if err != nil || len(p) != 1 || p[0] != md.bytes(at, 1)[0] {
									r.t.Errorf("%s: then Bytes(%d, 1) = %v, %v, want [%#x]", what, at, p, err, md.bytes(at, 1)[0])
								}
							}
						}
						return nil
					})
				})
				r.wantErr(what+": Batch", err, nil)
			})
		}
	}

	// Gather and Scatter, one offset at a time and all the valid ones at
	// once.
	for _, n := range []int64{8, 4, 1} {
		offs := []int64{start, torT - 4, size - n, torMax - n, torMax - n + 1, torMax, torT + torCS/2, -1, math.MinInt64}
		for _, write := range []bool{false, true} {
			name := "Gather"
			if write {
				name = "Scatter"
			}
			for _, off := range append(offs, -2) { // -2: all the valid ones
				add(fmt.Sprintf("%s(n=%d,%s)", name, n, torName(off)), write, func(r *torRun) {
					md := r.md
					list := []int64{off}
					if off == -2 {
						list = nil
						for _, o := range offs {
							if md.inRange(o, n) {
								list = append(list, o, o) // twice: a block that repeats a slot
							}
						}
					}
					buf := make([]byte, int64(len(list))*n)
					if write {
						buf = torPattern(off, int64(len(buf)))
					}
					var err error
					r.call(name, func() {
						if write {
							err = r.m.Scatter(buf, list, int(n))
						} else {
							err = r.m.Gather(buf, list, int(n))
						}
					})
					var want error
					for _, o := range list {
						if !md.inRange(o, n) {
							want = ErrOutOfRange
						}
					}
					what := fmt.Sprintf("%s(%d bytes at %v) in [%d, %d)", name, n, list, md.start, md.size)
					if !r.wantErr(what, err, want) || want != nil {
						return
					}
					for i, o := range list {
						if write {
							copy(md.bytes(o, n), buf[int64(i)*n:int64(i+1)*n])
						} else if !bytes.Equal(buf[int64(i)*n:int64(i+1)*n], md.bytes(o, n)) {
							r.t.Errorf("%s: value %d (offset %d) wrong", what, i, o)
						}
					}
				})
			}
		}
	}

	// The atomics, at the last aligned words below MaxInt64 and around the
	// top chunk's start.
	for _, w := range []int64{4, 8} {
		offs := []int64{start, torT - w, torT, (size - w) &^ (w - 1), torMax - 2*w + 1, torMax - w + 1,
			torMax - w + 2, -w, math.MinInt64}
		for _, off := range offs {
			add(fmt.Sprintf("atomics%d(%s)", w*8, torName(off)), true, func(r *torRun) {
				r.atomics(w, off)
			})
		}
	}

	// Advise.
	for _, c := range []struct{ off, n int64 }{
		{start, size - start}, {torT, torMax - torT}, {torMax - 1, 1}, {0, torMax}, {start, torMax},
		{start, -1}, {size, 0}, {size, 1}, {torMax, 1}, {torMax - 16, 16}, {size - 1, 1}, {math.MinInt64, 1},
	} {
		add(fmt.Sprintf("Advise(%s,%d)", torName(c.off), c.n), false, func(r *torRun) {
			for _, adv := range []Advice{AdviceWillNeed, AdviceDontNeed, AdviceRandom, AdviceNormal, Advice(99)} {
				var err error
				r.call("Advise", func() { err = r.m.Advise(c.off, c.n, adv) })
				var want error
				switch {
				case adv == Advice(99), c.n < 0:
					want = ErrOutOfRange
				case !r.md.inRange(c.off, c.n): // an empty range too, as for Pin
					want = ErrOutOfRange
				}
				r.wantErr(fmt.Sprintf("Advise(%d, %d, %v) in [%d, %d)", c.off, c.n, adv, r.md.start, r.md.size), err, want)
			}
		})
	}

	// Sync, Stats, Refresh and Close, then every call on the closed
	// Manager.
	add("Sync", false, func(r *torRun) {
		var err, rerr error
		r.call("Sync", func() {
			err = r.m.Sync()
			_ = r.m.Stats()
			rerr = r.r.Refresh()
			_ = r.r.Stats()
		})
		r.wantErr("Sync", err, nil)
		r.wantErr("Refresh", rerr, nil)
	})
	add("Close", true, func(r *torRun) {
		r.check(r.m, "writer before Close")
		r.close(r.m, "writer")
		r.closed = true
		m := r.m
		r.call("calls after Close", func() {
			errs := map[string]error{}
			_, errs["ReadAt"] = m.ReadAt(make([]byte, 8), torMax-8)
			_, errs["WriteAt"] = m.WriteAt(make([]byte, 8), torMax-8)
			_, errs["Append"] = m.Append(make([]byte, 8))
			errs["Truncate"] = m.Truncate(torMax)
			errs["Grow"] = m.Grow(1)
			errs["DropBefore"] = m.DropBefore(torMax)
			_, errs["Pin"] = m.Pin(torMax-8, 8)
			_, errs["PinWritable"] = m.PinWritable(torMax-8, 8)
			errs["Batch"] = m.Batch(func(*Batch) error { return nil })
			errs["Gather"] = m.Gather(make([]byte, 8), []int64{torMax - 8}, 8)
			errs["Scatter"] = m.Scatter(make([]byte, 8), []int64{torMax - 8}, 8)
			_, errs["LoadUint64"] = m.LoadUint64(torMax - 15)
			errs["StoreUint64"] = m.StoreUint64(torMax-15, 1)
			_, errs["AddUint32"] = m.AddUint32(torMax-7, 1)
			_, errs["CompareAndSwapUint32"] = m.CompareAndSwapUint32(torMax-7, 0, 1)
			errs["Advise"] = m.Advise(torMax-8, 8, AdviceWillNeed)
			errs["Sync"] = m.Sync()
			errs["Close"] = m.Close()
			for name, err := range errs {
				r.wantErr(name+" after Close", err, ErrClosed)
			}
		})
	})
	return ops
}

// torName names offset off in a subtest name: relative to MaxInt64 if it
// is near it.
func torName(off int64) string {
	if off > torMax/2 {
		return fmt.Sprintf("max-%d", torMax-off)
	}
	return fmt.Sprint(off)
}

// atomics runs every atomic of size bytes at off and checks it against the
// model.
func (r *torRun) atomics(size, off int64) {
	md := r.md
	var want error
	switch {
	case off < 0:
		want = ErrOutOfRange
	case off&(size-1) != 0 && !md.inRange(off, size):
		want = errUnalignedOrOut
	case off&(size-1) != 0:
		want = ErrUnaligned
	case !md.inRange(off, size):
		want = ErrOutOfRange
	}
	what := func(op string) string {
		return fmt.Sprintf("%s%d(%d) in [%d, %d)", op, size*8, off, md.start, md.size)
	}
	cur := func() uint64 {
		if size == 4 {
			return uint64(binary.NativeEndian.Uint32(md.bytes(off, 4)))
		}
		return binary.NativeEndian.Uint64(md.bytes(off, 8))
	}
	set := func(x uint64) {
		if size == 4 {
			binary.NativeEndian.PutUint32(md.bytes(off, 4), uint32(x))
		} else {
			binary.NativeEndian.PutUint64(md.bytes(off, 8), x)
		}
	}
	mask := uint64(math.MaxUint64)
	if size == 4 {
		mask = math.MaxUint32
	}
	var (
		x, y        uint64
		ok, notOK   bool
		errs        [5]error
		prev, wantX uint64
	)
	r.call("atomics", func() {
		if size == 4 {
			var x32, y32 uint32
			x32, errs[0] = r.m.LoadUint32(off)
			errs[1] = r.m.StoreUint32(off, 0x5a5a5a5a)
			y32, errs[2] = r.m.AddUint32(off, 3)
			ok, errs[3] = r.m.CompareAndSwapUint32(off, 0x5a5a5a5d, 7)
			notOK, errs[4] = r.m.CompareAndSwapUint32(off, 0x5a5a5a5d, 9)
			x, y = uint64(x32), uint64(y32)
		} else {
			x, errs[0] = r.m.LoadUint64(off)
			errs[1] = r.m.StoreUint64(off, 0x5a5a5a5a5a5a5a5a)
			y, errs[2] = r.m.AddUint64(off, 3)
			ok, errs[3] = r.m.CompareAndSwapUint64(off, 0x5a5a5a5a5a5a5a5d, 7)
			notOK, errs[4] = r.m.CompareAndSwapUint64(off, 0x5a5a5a5a5a5a5a5d, 9)
		}
	})
	for i, op := range []string{"Load", "Store", "Add", "CompareAndSwap", "CompareAndSwap"} {
		r.wantErr(what(op), errs[i], want)
	}
	if want != nil {
		return
	}
	prev = cur()
	wantX = 0x5a5a5a5a5a5a5a5d & mask
	if x != prev || y != wantX || !ok || notOK {
		r.t.Errorf("%s: Load = %#x, Add = %#x, CAS = %v, %v; want %#x, %#x, true, false", what("atomics"), x, y, ok, notOK, prev, wantX)
	}
	set(7)
}
