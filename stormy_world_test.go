package chunkmap_test

// The stormy world: a dataset whose bytes [base, end) are cut into cells,
// each owned by one goroutine, which alone writes it, through every write
// path of the package, and checks it, through every read path, against its
// model. Other goroutines at the same time read anywhere, pin, sample Stats,
// Sync, Advise, Grow, truncate the owned area and drop the chunks below it,
// and a ReadOnly follower on the same directory is read the same way.
//
// The model keeps, for every owned byte, its value and whether it is known.
// Truncate is the one call that changes bytes a goroutine does not own: a
// Truncate to T makes every byte at or past T read as zero once the dataset
// reaches it again (Manager.Truncate). Each Truncate is an event, numbered in
// the order the truncating goroutine issues them. Before each call an owner
// applies to its cells every event that has returned, except to the bytes
// whose last write overlapped that event; the bytes at or past the lowest
// target of the events that overlapped a call are unknown if it wrote them
// (the new value or zero) and not checked if it read them. A Truncate that
// returns ErrClosed did nothing and becomes an event that changes nothing. A
// byte is checked only where the outcome is certain, so the model never
// guesses about timing.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

type stormyConfig struct {
	owners        int
	cellsPerOwner int
	frozenCells   int   // cells at the start of the area that only the init writes; the holder pins them
	cellSize      int64 // a multiple of 8
	prefixChunks  int64 // chunks below the owned area: the dropper's
	follower      bool
	shrink        bool // a goroutine truncates the owned area and re-extends it
	drop          bool // a goroutine drops the prefix chunks
	appenders     int  // goroutines appending records past the area (not with shrink)
	noise         int  // goroutines reading, pinning, syncing... anywhere
	phases        int
	weights       map[string]int // op weights replacing the defaults
}

type stormyEvents struct {
	mu      sync.Mutex
	targets []int64
	started atomic.Int64 // Truncate events issued
	done    atomic.Int64 // Truncate events returned
	dstart  atomic.Int64 // DropBefore calls issued
	ddone   atomic.Int64 // DropBefore calls returned
}

func (ev *stormyEvents) begin(target int64) {
	ev.mu.Lock()
	ev.targets = append(ev.targets, target)
	ev.started.Store(int64(len(ev.targets)))
	ev.mu.Unlock()
}

// cancel turns event i into one that changed nothing: its Truncate was
// refused ("Nothing was done"). It is called before the event counts as done.
func (ev *stormyEvents) cancel(i int64) {
	ev.mu.Lock()
	ev.targets[i] = math.MaxInt64
	ev.mu.Unlock()
}

func (ev *stormyEvents) slice(i, j int64) []int64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]int64(nil), ev.targets[i:j]...)
}

type stormyRec struct {
	off int64
	b   []byte
}

type stormyHeld struct {
	p    *chunkmap.Pinned
	v    *accessor.View
	ro   bool
	off  int64
	n    int64
	span int64
}

type stormyWorld struct {
	e           *stormyEnv
	cfg         stormyConfig
	seed        uint64
	rng         *rand.Rand // the main goroutine's
	opts, ropts chunkmap.Options
	m, ro       *chunkmap.Manager
	va, vb, rva *accessor.ViewAccessor
	base, end   int64
	ncells      int
	floor       int64 // lowest Truncate target: the end of the frozen cells
	shadow      []byte
	known       []bool
	wmark       []int64 // per byte: the Truncate events started when its last write returned
	cellOwner   []int   // -1 for frozen cells
	owners      []*stormyOwner
	ev          stormyEvents
	fl, rfl     stormyFlight

	closing, closed   atomic.Bool // writer: Close called / returned
	rclosing, rclosed atomic.Bool // follower
	phaseEnd          time.Time
	stop              atomic.Bool
	ops               atomic.Int64
	checked           atomic.Int64 // bytes the owners compared with the model during the storms
	samples           atomic.Int64 // Stats samples taken during the storms
	excess            atomic.Int64 // the most Mapped exceeded MaxMapped + Pinned in a sample
	sawTruncate       atomic.Int64 // Batches that saw a whole Truncate between two calls
	phase             int

	held []stormyHeld // the holder's pins, kept over the quiescent checks

	recMu sync.Mutex
	recs  []stormyRec

	closeScenario bool
}

func stormyNewWorld(e *stormyEnv, seed uint64, cfg stormyConfig) *stormyWorld {
	t := e.t
	rng := stormyRNG(seed, 0)
	w := &stormyWorld{e: e, cfg: cfg, seed: seed, rng: rng}
	w.opts = chunkmap.Options{
		ChunkSize:   stormyC,
		MaxMapped:   1 + rng.IntN(4),
		ArenaSize:   []int64{1, 2, 4}[rng.IntN(3)] * stormyC,
		NoAdmission: rng.IntN(2) == 0,
	}
	w.ropts = chunkmap.Options{
		ReadOnly:    true,
		MaxMapped:   1 + rng.IntN(4),
		ArenaSize:   []int64{1, 2, 4}[rng.IntN(3)] * stormyC,
		NoAdmission: rng.IntN(2) == 0,
	}
	t.Logf("writer options MaxMapped=%d ArenaSize=%d chunks NoAdmission=%v; follower %v MaxMapped=%d ArenaSize=%d chunks NoAdmission=%v",
		w.opts.MaxMapped, w.opts.ArenaSize/stormyC, w.opts.NoAdmission, cfg.follower,
		w.ropts.MaxMapped, w.ropts.ArenaSize/stormyC, w.ropts.NoAdmission)
	w.base = cfg.prefixChunks * stormyC
	w.ncells = cfg.frozenCells + cfg.owners*cfg.cellsPerOwner
	w.end = w.base + int64(w.ncells)*cfg.cellSize
	w.floor = w.base + int64(cfg.frozenCells)*cfg.cellSize
	w.shadow = make([]byte, w.end-w.base)
	w.known = make([]bool, w.end-w.base)
	w.wmark = make([]int64, w.end-w.base)
	w.cellOwner = make([]int, w.ncells)
	for k := range w.cellOwner {
		if k < cfg.frozenCells {
			w.cellOwner[k] = -1
		} else {
			w.cellOwner[k] = (k - cfg.frozenCells) % cfg.owners
		}
	}

	m, err := chunkmap.Open(e.dir, &w.opts)
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	w.va = accessor.New(m, nil)
	w.vb = accessor.New(m, binary.BigEndian)
	// The prefix (the dropper's) and the owned area, written in one go.
	init := make([]byte, w.end)
	for i := range init {
		init[i] = byte(rng.Uint32())
	}
	if _, err := m.WriteAt(init, 0); err != nil {
		t.Fatal(err)
	}
	copy(w.shadow, init[w.base:])
	for i := range w.known {
		w.known[i] = true
	}
	if cfg.follower {
		ro, err := chunkmap.Open(e.dir, &w.ropts)
		if err != nil {
			t.Fatal(err)
		}
		w.ro = ro
		w.rva = accessor.New(ro, nil)
	}
	for g := 0; g < cfg.owners; g++ {
		o := &stormyOwner{w: w, g: g, rng: stormyRNG(seed, uint64(100+g)), busy: map[int]bool{}}
		for k, own := range w.cellOwner {
			if own == g {
				o.cells = append(o.cells, k)
				off, end := w.cellRange(k)
				if off/stormyC != (end-1)/stormyC {
					o.straddle = append(o.straddle, k)
				}
			}
		}
		o.ops = stormyOps(cfg.weights)
		w.owners = append(w.owners, o)
	}
	return w
}

func (w *stormyWorld) cellRange(k int) (int64, int64) {
	off := w.base + int64(k)*w.cfg.cellSize
	return off, off + w.cfg.cellSize
}

// mgr returns the Manager and accessor of the writer or the follower.
func (w *stormyWorld) mgr(ro bool) *chunkmap.Manager {
	if ro {
		return w.ro
	}
	return w.m
}

// running reports whether the phase goes on.
//
// In a close scenario the phase runs until the writer is closed (the closer
// closes it once enough operations ran, or at the phase's budget).
func (w *stormyWorld) running() bool {
	if w.stop.Load() || (w.e.failing() && !stormyKeepGoing) {
		return false
	}
	if w.closeScenario {
		return !w.closed.Load()
	}
	return time.Now().Before(w.phaseEnd)
}

// after reports whether a goroutine that has done *post calls since the
// writer's Close returned should do another: eight more, then it stops.
func (w *stormyWorld) after(post *int) bool {
	if !w.closed.Load() || w.e.failing() || w.stop.Load() {
		return false
	}
	*post++
	return *post <= 8
}

// stormyKeepGoing (STORMY_KEEP_GOING=1) lets a storm run on after a failure,
// to see every kind of failure of one run; by default the first one ends the
// phase, so that the log shows it and not what followed from it.
var stormyKeepGoing = os.Getenv("STORMY_KEEP_GOING") == "1"

// ---------------------------------------------------------------------------
// Owners.

type stormyOwner struct {
	w        *stormyWorld
	g        int
	rng      *rand.Rand
	cells    []int
	straddle []int // cells across a chunk boundary
	busy     map[int]bool
	applied  int64
	depth    int
	ops      []stormyOp
	total    int
	postOps  int // ops after the writer's Close returned
}

type stormyOp struct {
	name string
	w    int
	f    func(o *stormyOwner)
}

var stormyDefaultWeights = map[string]int{
	"writeAt": 6, "typedWrite": 3, "bulkWrite": 3, "pinWrite": 3, "batchWrite": 3,
	"accBatchWrite": 2, "scatter": 3, "atomic": 3, "sliceWrite": 2, "batchTricks": 2,
	"readAt": 5, "typedRead": 3, "bulkRead": 3, "pinRead": 3, "pinTwice": 1, "batchRead": 3,
	"accBatchRead": 2, "gather": 3, "scan": 3, "blocks": 2, "sliceRead": 2,
	"misc": 2, "readOnlyWrite": 1, "batchSeesTruncate": 2,
}

func stormyOps(weights map[string]int) []stormyOp {
	all := []stormyOp{
		{"writeAt", 0, (*stormyOwner).opWriteAt},
		{"typedWrite", 0, (*stormyOwner).opTypedWrite},
		{"bulkWrite", 0, (*stormyOwner).opBulkWrite},
		{"pinWrite", 0, func(o *stormyOwner) { o.opPin(true) }},
		{"batchWrite", 0, func(o *stormyOwner) { o.opBatch(true) }},
		{"accBatchWrite", 0, func(o *stormyOwner) { o.opAccBatch(true) }},
		{"scatter", 0, (*stormyOwner).opScatter},
		{"atomic", 0, (*stormyOwner).opAtomic},
		{"sliceWrite", 0, func(o *stormyOwner) { o.opSlice(true) }},
		{"batchTricks", 0, (*stormyOwner).opBatchTricks},
		{"batchSeesTruncate", 0, (*stormyOwner).opBatchSeesTruncate},
		{"readAt", 0, (*stormyOwner).opReadAt},
		{"typedRead", 0, (*stormyOwner).opTypedRead},
		{"bulkRead", 0, (*stormyOwner).opBulkRead},
		{"pinRead", 0, func(o *stormyOwner) { o.opPin(false) }},
		{"pinTwice", 0, (*stormyOwner).opPinTwice},
		{"batchRead", 0, func(o *stormyOwner) { o.opBatch(false) }},
		{"accBatchRead", 0, func(o *stormyOwner) { o.opAccBatch(false) }},
		{"gather", 0, (*stormyOwner).opGather},
		{"scan", 0, (*stormyOwner).opScan},
		{"blocks", 0, (*stormyOwner).opBlocks},
		{"sliceRead", 0, func(o *stormyOwner) { o.opSlice(false) }},
		{"misc", 0, (*stormyOwner).opMisc},
		{"readOnlyWrite", 0, (*stormyOwner).opReadOnlyWrite},
	}
	var ops []stormyOp
	for _, op := range all {
		wt := stormyDefaultWeights[op.name]
		if weights != nil {
			if v, ok := weights[op.name]; ok {
				wt = v
			}
		}
		if wt > 0 {
			op.w = wt
			ops = append(ops, op)
		}
	}
	return ops
}

func (o *stormyOwner) step() {
	sum := 0
	for _, op := range o.ops {
		sum += op.w
	}
	x := o.rng.IntN(sum)
	for _, op := range o.ops {
		if x < op.w {
			o.total++
			o.w.ops.Add(1)
			op.f(o)
			return
		}
		x -= op.w
	}
}

// nested runs one more op from inside another's Batch, scan or pin.
func (o *stormyOwner) nested() {
	if o.depth >= 2 {
		return
	}
	o.depth++
	o.step()
	o.depth--
}

func (o *stormyOwner) run() {
	for o.w.running() || o.w.after(&o.postOps) {
		o.step()
	}
}

func (o *stormyOwner) useRO() bool {
	return o.w.ro != nil && o.rng.IntN(3) == 0
}

// acc returns an accessor of the writer (little or big endian) or of the
// follower, with its byte order.
func (o *stormyOwner) acc(ro bool) (*accessor.ViewAccessor, binary.ByteOrder, string) {
	if ro {
		return o.w.rva, binary.LittleEndian, "follower accessor"
	}
	if o.rng.IntN(2) == 0 {
		return o.w.vb, binary.BigEndian, "big-endian accessor"
	}
	return o.w.va, binary.LittleEndian, "accessor"
}

func (o *stormyOwner) bytes(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(o.rng.Uint32())
	}
	return b
}

// claim picks a range as pick does and marks its cell busy; the caller
// deletes the cell from o.busy when done.
func (o *stormyOwner) claim(s int64, aligned bool, maxCount int64) (k int, a, b int64) {
	k, a, b = o.pick(s, aligned, maxCount)
	o.busy[k] = true
	return k, a, b
}

// fillOrCopy, unless short, copies data into the held bytes bs when
// writing, or returns a copy of them when reading; then now and then it runs
// a nested op while they are held.
func (o *stormyOwner) fillOrCopy(bs, data []byte, write, short bool) (got []byte) {
	if !short {
		if write {
			copy(bs, data)
		} else {
			got = append([]byte(nil), bs...)
		}
	}
	if o.rng.IntN(6) == 0 {
		o.nested()
	}
	return got
}

// settle checks the error of a call on [a, b) and records what it wrote,
// or compares what it read.
func (o *stormyOwner) settle(c stormyCtx, r stormyRes, what, prefix string, err error, a, b int64, write bool, data, got []byte) {
	ok := o.verr(c, r, what, prefix, err, stormyInRange, b)
	if write {
		o.record(a, data, stormyOutcome(err, true), r)
	} else if ok {
		o.compare(what, a, got, r)
	}
}

// settlePiece records a written piece at off (done or not done), or
// compares a read one that was done.
func (o *stormyOwner) settlePiece(what string, off int64, b []byte, write, done bool, r stormyRes) {
	if write {
		oc := stormyNotDone
		if done {
			oc = stormyDone
		}
		o.record(off, b, oc, r)
	} else if done {
		o.compare(what, off, b, r)
	}
}

// batchCalled checks that a Batch function ran at most once, and the error.
func (o *stormyOwner) batchCalled(c stormyCtx, r stormyRes, what string, calls int, err error, b int64) {
	if calls > 1 {
		o.w.e.failf("%s: function called %d times", what, calls)
	}
	o.verr(c, r, what, "batch", err, stormyInRange, b)
}

// pick returns a cell of o's that is not busy and a range in it of count
// values of size s (count at most maxCount, if that is positive), at a
// multiple of s if aligned. It favours ranges across chunk boundaries.
func (o *stormyOwner) pick(s int64, aligned bool, maxCount int64) (k int, a, b int64) {
	cs := o.w.cfg.cellSize
	k = -1
	if len(o.straddle) > 0 && o.rng.IntN(3) == 0 {
		c := o.straddle[o.rng.IntN(len(o.straddle))]
		if !o.busy[c] {
			k = c
		}
	}
	for k < 0 {
		c := o.cells[o.rng.IntN(len(o.cells))]
		if !o.busy[c] {
			k = c
		}
	}
	off, _ := o.w.cellRange(k)
	var shift int64
	if !aligned && s > 1 {
		shift = o.rng.Int64N(s)
	}
	slots := (cs - shift) / s
	var count int64
	switch o.rng.IntN(4) {
	case 0:
		count = slots
	case 1:
		count = 1 + o.rng.Int64N(min(4, slots))
	default:
		count = 1 + o.rng.Int64N(slots)
	}
	if maxCount > 0 && count > maxCount {
		count = 1 + o.rng.Int64N(maxCount)
	}
	j := o.rng.Int64N(slots - count + 1)
	if bnd := (off/stormyC + 1) * stormyC; bnd < off+cs && o.rng.IntN(2) == 0 {
		// Cover the chunk boundary inside the cell.
		jb := (bnd - off - shift) / s
		lo, hi := max(0, jb-count+1), min(jb, slots-count)
		if lo <= hi {
			j = lo + o.rng.Int64N(hi-lo+1)
		}
	}
	a = off + shift + j*s
	return k, a, a + count*s
}

// applyEvents applies the Truncate events o has not applied, up to upTo
// (all of them returned), to its cells: every byte at or past a target reads
// as zero from then on, except a byte whose last write overlapped the event
// (that write may have come after it: the byte is unknown already).
func (o *stormyOwner) applyEvents(upTo int64) {
	if upTo <= o.applied {
		return
	}
	w := o.w
	for i, target := range w.ev.slice(o.applied, upTo) {
		idx := o.applied + int64(i)
		for _, k := range o.cells {
			off, end := w.cellRange(k)
			for x := max(off, target); x < end; x++ {
				if w.wmark[x-w.base] > idx {
					continue
				}
				w.shadow[x-w.base] = 0
				w.known[x-w.base] = true
			}
		}
	}
	o.applied = upTo
}

type stormyCtx struct {
	ro      bool
	closed0 bool
	d0      int64 // Truncate events returned before the call
	sz0     int64
	k       int64
}

type stormyRes struct {
	overlap bool  // a Truncate overlapped the call
	minT    int64 // the lowest target of those
	s1      int64 // Truncate events started before the call returned
	closing bool  // Close of the Manager used had been called by the end
}

func (o *stormyOwner) begin(ro bool, a, b int64) stormyCtx {
	w := o.w
	c := stormyCtx{ro: ro, k: stormySpan(a, b)}
	if ro {
		c.closed0 = w.rclosed.Load()
		w.rfl.begin(c.k)
	} else {
		c.closed0 = w.closed.Load()
		w.fl.begin(c.k)
	}
	c.d0 = w.ev.done.Load()
	o.applyEvents(c.d0)
	c.sz0 = w.mgr(ro).Size()
	return c
}

func (o *stormyOwner) end(c stormyCtx) stormyRes {
	w := o.w
	if c.ro {
		w.rfl.end(c.k)
	} else {
		w.fl.end(c.k)
	}
	s1 := w.ev.started.Load()
	r := stormyRes{minT: math.MaxInt64, s1: s1}
	if s1 > c.d0 {
		r.overlap = true
		for _, target := range w.ev.slice(c.d0, s1) {
			r.minT = min(r.minT, target)
		}
	}
	if c.ro {
		r.closing = w.rclosing.Load()
	} else {
		r.closing = w.closing.Load()
	}
	return r
}

const (
	stormyExtends = iota // a write that may extend Size
	stormyInRange        // a call on bytes that must lie in [Start, Size)
)

// verr checks the error of a call on [.., b): after Close returned it must be
// ErrClosed; otherwise ErrClosed only once Close was called, ErrOutOfRange
// (io.EOF) only where Size was below b or a Truncate overlapped the call, and
// on the follower ErrFault too where a Truncate overlapped it (the docs of
// Options.ReadOnly). It reports whether err is nil.
func (o *stormyOwner) verr(c stormyCtx, r stormyRes, what, prefix string, err error, kind int, b int64) bool {
	w := o.w
	what = fmt.Sprintf("phase %d owner %d: %s", w.phase, o.g, what)
	if c.closed0 {
		if err == nil {
			w.e.failf("%s: succeeded after Close had returned", what)
			return true
		}
		return w.e.check(what+" (after Close)", prefix, err, chunkmap.ErrClosed)
	}
	var al []error
	if r.closing {
		al = append(al, chunkmap.ErrClosed)
	}
	if kind == stormyInRange && (c.sz0 < b || r.overlap) {
		al = append(al, chunkmap.ErrOutOfRange, io.EOF)
	}
	if c.ro && r.overlap {
		al = append(al, chunkmap.ErrFault, chunkmap.ErrOutOfRange, io.EOF)
	}
	return w.e.check(what, prefix, err, al...)
}

const (
	stormyDone    = iota // the write was made
	stormyNotDone        // nothing was written
	stormyMaybe          // some or all of it may have been written
)

// stormyOutcome is what a failed write did: nothing, for the errors whose
// docs say "Nothing was done", where the call's own docs agree (single
// values, WriteAt, pins, atomics); else it may have done part.
func stormyOutcome(err error, nothingOnRefusal bool) int {
	if err == nil {
		return stormyDone
	}
	if nothingOnRefusal && (errors.Is(err, chunkmap.ErrClosed) || errors.Is(err, chunkmap.ErrOutOfRange) || errors.Is(err, chunkmap.ErrReadOnly)) {
		return stormyNotDone
	}
	return stormyMaybe
}

func (o *stormyOwner) record(off int64, data []byte, outcome int, r stormyRes) {
	if outcome == stormyNotDone {
		return
	}
	w := o.w
	for i, v := range data {
		x := off + int64(i)
		idx := x - w.base
		w.wmark[idx] = r.s1
		if outcome == stormyDone && x < r.minT {
			w.shadow[idx] = v
			w.known[idx] = true
		} else {
			w.known[idx] = false
		}
	}
}

func (o *stormyOwner) compare(what string, a int64, got []byte, r stormyRes) bool {
	w := o.w
	checked := int64(0)
	defer func() { w.checked.Add(checked) }()
	for i, v := range got {
		x := a + int64(i)
		if x >= r.minT {
			break
		}
		idx := x - w.base
		if w.known[idx] {
			checked++
		}
		if w.known[idx] && w.shadow[idx] != v {
			w.e.failf("phase %d owner %d: %s: byte at offset %d (chunk %d) is %#02x, want %#02x (overlapping truncate: %v)",
				w.phase, o.g, what, x, x/stormyC, v, w.shadow[idx], r.overlap)
			return false
		}
	}
	return true
}

// knownWord returns the model's bytes of [a, a+n) and whether all are known.
func (o *stormyOwner) knownBytes(a, n int64) ([]byte, bool) {
	w := o.w
	idx := a - w.base
	for i := idx; i < idx+n; i++ {
		if !w.known[i] {
			return nil, false
		}
	}
	return append([]byte(nil), w.shadow[idx:idx+n]...), true
}

// ---------------------------------------------------------------------------
// Writes.

func (o *stormyOwner) opWriteAt() {
	w := o.w
	_, a, b := o.pick(1, false, 0)
	data := o.bytes(b - a)
	var via string
	var n int
	var err error
	c := o.begin(false, a, b)
	switch o.rng.IntN(3) {
	case 0:
		via = "Manager.WriteAt"
		n, err = w.m.WriteAt(data, a)
	case 1:
		via = "ViewAccessor.WriteAt"
		n, err = w.va.WriteAt(data, a)
	default:
		via = "io.OffsetWriter.Write"
		n, err = io.NewOffsetWriter(w.va, a).Write(data)
	}
	r := o.end(c)
	what := fmt.Sprintf("%s of %d bytes at %d", via, len(data), a)
	if o.verr(c, r, what, "write ", err, stormyExtends, b) && n != len(data) {
		w.e.failf("%s: wrote %d bytes with a nil error", what, n)
	}
	if (errors.Is(err, chunkmap.ErrClosed) || errors.Is(err, chunkmap.ErrOutOfRange)) && n != 0 {
		w.e.failf("%s: %v (\"Nothing was done\") after %d bytes", what, err, n)
	}
	o.record(a, data, stormyOutcome(err, true), r)
}

func (o *stormyOwner) opTypedWrite() {
	ty := &stormyTypes[o.rng.IntN(len(stormyTypes))]
	_, a, b := o.pick(ty.size, o.rng.IntN(2) == 0, 1)
	v, order, vname := o.acc(false)
	x := ty.gen(o.rng)
	c := o.begin(false, a, b)
	err := ty.write(v, a, x)
	r := o.end(c)
	o.verr(c, r, fmt.Sprintf("%s Write%s at %d", vname, ty.name, a), "write ", err, stormyExtends, b)
	o.record(a, stormyEncode(order, ty.size, x), stormyOutcome(err, true), r)
}

func (o *stormyOwner) opTypedRead() {
	ro := o.useRO()
	ty := &stormyTypes[o.rng.IntN(len(stormyTypes))]
	_, a, b := o.pick(ty.size, o.rng.IntN(2) == 0, 1)
	v, order, vname := o.acc(ro)
	c := o.begin(ro, a, b)
	x, err := ty.read(v, a)
	r := o.end(c)
	what := fmt.Sprintf("%s Read%s at %d", vname, ty.name, a)
	if o.verr(c, r, what, "read ", err, stormyInRange, b) {
		o.compare(what, a, stormyEncode(order, ty.size, x), r)
	}
}

func (o *stormyOwner) opBulkWrite() {
	bk := &stormyBulks[o.rng.IntN(len(stormyBulks))]
	_, a, b := o.pick(bk.size, o.rng.IntN(2) == 0, 0)
	v, order, vname := o.acc(false)
	xs := bk.gen(o.rng, int((b-a)/bk.size))
	var data []byte
	for _, x := range xs {
		data = append(data, stormyEncode(order, bk.size, x)...)
	}
	c := o.begin(false, a, b)
	err := bk.write(v, a, xs)
	r := o.end(c)
	o.verr(c, r, fmt.Sprintf("%s Write%s of %d values at %d", vname, bk.name, len(xs), a), "write ", err, stormyExtends, b)
	o.record(a, data, stormyOutcome(err, false), r)
}

func (o *stormyOwner) opBulkRead() {
	w := o.w
	ro := o.useRO()
	bk := &stormyBulks[o.rng.IntN(len(stormyBulks))]
	_, a, b := o.pick(bk.size, o.rng.IntN(2) == 0, 0)
	v, order, vname := o.acc(ro)
	n := int((b - a) / bk.size)
	const marker = 0x5a5a5a5a5a5a5a5a
	c := o.begin(ro, a, b)
	xs, err := bk.read(v, a, n, marker)
	r := o.end(c)
	what := fmt.Sprintf("%s Read%s of %d values at %d", vname, bk.name, n, a)
	if o.verr(c, r, what, "read ", err, stormyInRange, b) {
		var got []byte
		for _, x := range xs {
			got = append(got, stormyEncode(order, bk.size, x)...)
		}
		o.compare(what, a, got, r)
	} else if errors.Is(err, chunkmap.ErrOutOfRange) && !r.overlap && !r.closing {
		// Out of range from the start: dst left untouched.
		want := uint64(marker)
		if bk.size < 8 {
			want &= 1<<(8*bk.size) - 1
		}
		for i, x := range xs {
			if x != want {
				w.e.failf("%s: ErrOutOfRange, which leaves dst untouched, changed dst[%d] to %#x", what, i, x)
				break
			}
		}
	}
}

func (o *stormyOwner) release(what string, p *chunkmap.Pinned) {
	w := o.w
	switch o.rng.IntN(5) {
	case 0:
		p.Release()
	case 1:
		p.Release()
		p.Release()
	case 2:
		cp := stormyCopyPinned(p)
		cp.Release()
		if p.Bytes() != nil {
			w.e.failf("%s: Bytes of a Pinned is not nil after a copy of it was released", what)
		}
		p.Release()
		cp.Release()
	case 3:
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); p.Release() }()
		}
		wg.Wait()
	default:
		cp := stormyCopyPinned(p)
		p.Release()
		if cp.Bytes() != nil {
			w.e.failf("%s: Bytes of a copy of a Pinned is not nil after the original was released", what)
		}
		cp.Release()
	}
	if p.Bytes() != nil {
		w.e.failf("%s: Bytes is not nil after Release", what)
	}
}

func (o *stormyOwner) opPin(write bool) {
	w := o.w
	ro := !write && o.useRO()
	k, a, b := o.claim(1, false, 0)
	defer delete(o.busy, k)
	n := int(b - a)
	var data, got []byte
	if write {
		data = o.bytes(b - a)
	}
	what := fmt.Sprintf("Pin of %d bytes at %d (write %v, follower %v)", n, a, write, ro)
	c := o.begin(ro, a, b)
	var p *chunkmap.Pinned
	var err error
	switch {
	case write:
		p, err = w.m.PinWritable(a, n)
	default:
		p, err = w.mgr(ro).Pin(a, n)
	}
	if err == nil {
		bs := p.Bytes()
		short := len(bs) != n
		if short {
			w.e.failf("%s: Bytes has %d bytes", what, len(bs))
		}
		got = o.fillOrCopy(bs, data, write, short)
		o.release(what, p)
	}
	o.settle(c, o.end(c), what, "pin ", err, a, b, write, data, got)
}

// opPinTwice pins a range twice and releases the first pin through a copy
// and twice over: the second must stay pinned, with its bytes intact.
func (o *stormyOwner) opPinTwice() {
	w := o.w
	ro := o.useRO()
	k, a, b := o.claim(1, false, 0)
	defer delete(o.busy, k)
	n := int(b - a)
	what := fmt.Sprintf("second Pin of %d bytes at %d (follower %v)", n, a, ro)
	mgr := w.mgr(ro)
	c := o.begin(ro, a, b)
	p1, err1 := mgr.Pin(a, n)
	p2, err2 := mgr.Pin(a, n)
	var got []byte
	if err1 == nil {
		cp := stormyCopyPinned(p1)
		cp.Release()
		cp.Release()
		p1.Release()
	}
	if err2 == nil {
		if st := mgr.Stats(); st.Pinned < 1 {
			w.e.failf("%s: Stats.Pinned is %d while the pin is held", what, st.Pinned)
		}
		got = append([]byte(nil), p2.Bytes()...)
		if len(got) != n {
			w.e.failf("%s: %d bytes after another pin of the range was released", what, len(got))
		}
		p2.Release()
	}
	r := o.end(c)
	o.verr(c, r, "first "+what, "pin ", err1, stormyInRange, b)
	if o.verr(c, r, what, "pin ", err2, stormyInRange, b) {
		o.compare(what, a, got, r)
	}
}

type stormyPiece struct{ a, b int64 }

func (o *stormyOwner) pieces(a, b int64) []stormyPiece {
	n := 1 + o.rng.IntN(3)
	cuts := []int64{a, b}
	for range n - 1 {
		if b-a > 1 {
			cuts = append(cuts, a+1+o.rng.Int64N(b-a-1))
		}
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i] < cuts[j] })
	var ps []stormyPiece
	for i := 0; i+1 < len(cuts); i++ {
		if cuts[i] < cuts[i+1] {
			ps = append(ps, stormyPiece{cuts[i], cuts[i+1]})
		}
	}
	return ps
}

func (o *stormyOwner) opBatch(write bool) {
	w := o.w
	ro := !write && o.useRO()
	k, a, b := o.claim(1, false, 0)
	defer delete(o.busy, k)
	var data []byte
	if write {
		data = o.bytes(b - a)
	}
	got := make([]byte, b-a)
	ps := o.pieces(a, b)
	done := make([]bool, len(ps))
	what := fmt.Sprintf("Batch %s of %d bytes at %d in %d pieces (follower %v)",
		map[bool]string{true: "WritableBytes", false: "Bytes"}[write], b-a, a, len(ps), ro)
	calls := 0
	c := o.begin(ro, a, b)
	err := w.mgr(ro).Batch(func(bt *chunkmap.Batch) error {
		calls++
		for i, pc := range ps {
			use := bt
			if o.rng.IntN(4) == 0 {
				cp := *bt
				use = &cp
			}
			n := int(pc.b - pc.a)
			if write {
				dst, e := use.WritableBytes(pc.a, n)
				if e != nil {
					return e
				}
				if len(dst) != n {
					w.e.failf("%s: WritableBytes returned %d bytes, want %d", what, len(dst), n)
					return nil
				}
				copy(dst, data[pc.a-a:pc.b-a])
			} else {
				src, e := use.Bytes(pc.a, n)
				if e != nil {
					return e
				}
				if len(src) != n {
					w.e.failf("%s: Bytes returned %d bytes, want %d", what, len(src), n)
					return nil
				}
				copy(got[pc.a-a:], src)
			}
			done[i] = true
			if i == 0 && o.rng.IntN(5) == 0 {
				o.nested()
			}
		}
		return nil
	})
	r := o.end(c)
	o.batchCalled(c, r, what, calls, err, b)
	for i, pc := range ps {
		piece := got[pc.a-a : pc.b-a]
		if write {
			piece = data[pc.a-a : pc.b-a]
		}
		o.settlePiece(what, pc.a, piece, write, done[i], r)
	}
}

func (o *stormyOwner) opAccBatch(write bool) {
	ro := !write && o.useRO()
	ty := &stormyTypes[o.rng.IntN(len(stormyTypes))]
	k, a, b := o.claim(ty.size, o.rng.IntN(2) == 0, 64)
	defer delete(o.busy, k)
	v, order, vname := o.acc(ro)
	n := int((b - a) / ty.size)
	xs := make([]uint64, n)
	done := make([]bool, n)
	for i := range xs {
		if write {
			xs[i] = ty.gen(o.rng)
		}
	}
	what := fmt.Sprintf("%s Batch %s %d values at %d (write %v)", vname, ty.name, n, a, write)
	calls := 0
	c := o.begin(ro, a, b)
	err := v.Batch(func(bt *accessor.Batch) error {
		calls++
		for i := range xs {
			off := a + int64(i)*ty.size
			if write {
				if e := ty.bwrite(bt, off, xs[i]); e != nil {
					return e
				}
			} else {
				x, e := ty.bread(bt, off)
				if e != nil {
					return e
				}
				xs[i] = x
			}
			done[i] = true
			if i == 0 && o.rng.IntN(6) == 0 {
				o.nested()
			}
		}
		return nil
	})
	r := o.end(c)
	o.batchCalled(c, r, what, calls, err, b)
	for i, x := range xs {
		o.settlePiece(what, a+int64(i)*ty.size, stormyEncode(order, ty.size, x), write, done[i], r)
	}
}

// values picks count non-overlapping values of n bytes in o's cells that are
// not busy, and marks their cells busy.
func (o *stormyOwner) values(n int64, count int) (offs []int64, cells []int) {
	w := o.w
	used := map[int64]bool{}
	seen := map[int]bool{}
	for tries := 0; len(offs) < count && tries < 4*count; tries++ {
		k := o.cells[o.rng.IntN(len(o.cells))]
		if len(o.straddle) > 0 && o.rng.IntN(4) == 0 {
			k = o.straddle[o.rng.IntN(len(o.straddle))]
		}
		if o.busy[k] {
			continue
		}
		off, end := w.cellRange(k)
		a := off + o.rng.Int64N(w.cfg.cellSize-n+1)
		if bnd := (off/stormyC + 1) * stormyC; bnd < end && n > 1 && o.rng.IntN(2) == 0 {
			// Across the chunk boundary in the cell.
			a = max(off, min(end-n, bnd-1-o.rng.Int64N(n-1)))
		} else if n%8 == 0 || n == 4 {
			a -= (a - off) % n
		}
		free := true
		for x := a; x < a+n; x++ {
			if used[x] {
				free = false
				break
			}
		}
		if !free {
			continue
		}
		for x := a; x < a+n; x++ {
			used[x] = true
		}
		offs = append(offs, a)
		if !seen[k] {
			seen[k] = true
			cells = append(cells, k)
		}
	}
	for _, k := range cells {
		o.busy[k] = true
	}
	return offs, cells
}

const stormyBadOff = int64(1) << 40

// stormyValues is what a Scatter or a Gather works on: how it is called
// (0 Manager, 1 uint64s, 2 uint32s), the value size, the offsets (one of
// them, bad, maybe out of range) with the cells they lie in, and the span
// [lo, hi) the good ones cover.
type stormyValues struct {
	via    int
	n      int64
	offs   []int64
	cells  []int
	bad    int
	lo, hi int64
}

// pickValues draws the values of a Scatter or a Gather and marks their
// cells busy; the caller hands it to done when the call is over. It reports
// false when no value fits.
func (o *stormyOwner) pickValues() (stormyValues, bool) {
	var sv stormyValues
	sv.via = o.rng.IntN(3)
	sv.n = []int64{1, 2, 3, 5, 8, 16, 64, 200}[o.rng.IntN(8)]
	switch sv.via {
	case 1:
		sv.n = 8
	case 2:
		sv.n = 4
	}
	sv.offs, sv.cells = o.values(sv.n, 1+o.rng.IntN(40))
	sv.bad = -1
	if len(sv.offs) == 0 {
		return sv, false
	}
	if o.rng.IntN(5) == 0 {
		sv.bad = o.rng.IntN(len(sv.offs))
		sv.offs[sv.bad] = stormyBadOff
	}
	sv.lo, sv.hi = int64(math.MaxInt64), int64(0)
	for i, off := range sv.offs {
		if i != sv.bad {
			sv.lo, sv.hi = min(sv.lo, off), max(sv.hi, off+sv.n)
		}
	}
	if sv.hi == 0 {
		sv.lo, sv.hi = o.w.base, o.w.base+1
	}
	return sv, true
}

func (o *stormyOwner) done(sv stormyValues) {
	for _, k := range sv.cells {
		delete(o.busy, k)
	}
}

// checkValues checks the error of a Scatter or a Gather: with a bad offset
// and a clean call, ErrOutOfRange, whose message names the offset when
// named is set, and in any case what verr allows. It reports whether the
// call was clean.
func (o *stormyOwner) checkValues(sv stormyValues, c stormyCtx, r stormyRes, what, prefix string, err error, named bool) bool {
	w := o.w
	clean := !c.closed0 && !r.closing && !r.overlap && c.sz0 >= sv.hi
	if sv.bad >= 0 {
		if clean {
			if !errors.Is(err, chunkmap.ErrOutOfRange) {
				w.e.failf("%s: got %v, want ErrOutOfRange for offset %d", what, err, stormyBadOff)
			} else if named && !bytes.Contains([]byte(err.Error()), []byte(fmt.Sprintf("at offset %d ", stormyBadOff))) {
				w.e.failf("%s: error does not name the offending offset %d: %v", what, stormyBadOff, err)
			}
		}
		o.verr(c, r, what, prefix, err, stormyInRange, stormyBadOff)
	} else {
		o.verr(c, r, what, prefix, err, stormyInRange, sv.hi)
	}
	return clean
}

func (o *stormyOwner) opScatter() {
	w := o.w
	sv, ok := o.pickValues()
	defer o.done(sv)
	if !ok {
		return
	}
	via, n, offs, bad, lo, hi := sv.via, sv.n, sv.offs, sv.bad, sv.lo, sv.hi
	src := o.bytes(n * int64(len(offs)))
	var err error
	var name string
	c := o.begin(false, lo, hi)
	switch via {
	case 0:
		name = "Manager.Scatter"
		err = w.m.Scatter(src, offs, int(n))
	case 1:
		name = "ViewAccessor.WriteUint64sAt"
		xs := make([]uint64, len(offs))
		for i := range xs {
			xs[i] = binary.LittleEndian.Uint64(src[8*i:])
		}
		err = w.va.WriteUint64sAt(offs, xs)
	default:
		name = "ViewAccessor.WriteUint32sAt"
		xs := make([]uint32, len(offs))
		for i := range xs {
			xs[i] = binary.LittleEndian.Uint32(src[4*i:])
		}
		err = w.va.WriteUint32sAt(offs, xs)
	}
	r := o.end(c)
	what := fmt.Sprintf("%s of %d values of %d bytes (bad index %d)", name, len(offs), n, bad)
	clean := o.checkValues(sv, c, r, what, "scatter ", err, via == 0)
	for i, off := range offs {
		if i == bad {
			continue
		}
		oc := stormyMaybe
		switch {
		case err == nil:
			oc = stormyDone
		case bad >= 0 && clean && i < bad:
			oc = stormyDone
		case bad >= 0 && clean && i > bad:
			oc = stormyNotDone
		}
		o.record(off, src[int64(i)*n:int64(i+1)*n], oc, r)
	}
}

func (o *stormyOwner) opGather() {
	w := o.w
	ro := o.useRO()
	sv, ok := o.pickValues()
	defer o.done(sv)
	if !ok {
		return
	}
	via, n, offs, bad, lo, hi := sv.via, sv.n, sv.offs, sv.bad, sv.lo, sv.hi
	dst := make([]byte, n*int64(len(offs)))
	var err error
	var name string
	mgr := w.mgr(ro)
	v := w.va
	if ro {
		v = w.rva
	}
	c := o.begin(ro, lo, hi)
	switch via {
	case 0:
		name = "Gather"
		err = mgr.Gather(dst, offs, int(n))
	case 1:
		name = "ReadUint64sAt"
		xs := make([]uint64, len(offs))
		err = v.ReadUint64sAt(offs, xs)
		for i, x := range xs {
			binary.LittleEndian.PutUint64(dst[8*i:], x)
		}
	default:
		name = "ReadUint32sAt"
		xs := make([]uint32, len(offs))
		err = v.ReadUint32sAt(offs, xs)
		for i, x := range xs {
			binary.LittleEndian.PutUint32(dst[4*i:], x)
		}
	}
	r := o.end(c)
	what := fmt.Sprintf("%s of %d values of %d bytes (bad index %d, follower %v)", name, len(offs), n, bad, ro)
	clean := o.checkValues(sv, c, r, what, "gather ", err, true)
	upTo := len(offs)
	if bad >= 0 {
		upTo = bad
	}
	if err != nil && !(bad >= 0 && clean) {
		return
	}
	for i := 0; i < upTo; i++ {
		o.compare(what, offs[i], dst[int64(i)*n:int64(i+1)*n], r)
	}
}

func (o *stormyOwner) opAtomic() {
	w := o.w
	ro := o.useRO()
	size := []int64{4, 8}[o.rng.IntN(2)]
	k, a, b := o.claim(size, true, 1)
	defer delete(o.busy, k)
	kind := o.rng.IntN(4) // 0 load, 1 store, 2 add, 3 compare-and-swap
	if ro {
		kind = 0
	}
	type atomics interface {
		LoadUint32(int64) (uint32, error)
		LoadUint64(int64) (uint64, error)
		StoreUint32(int64, uint32) error
		StoreUint64(int64, uint64) error
		AddUint32(int64, uint32) (uint32, error)
		AddUint64(int64, uint64) (uint64, error)
		CompareAndSwapUint32(int64, uint32, uint32) (bool, error)
		CompareAndSwapUint64(int64, uint64, uint64) (bool, error)
	}
	var at atomics = w.mgr(ro)
	if o.rng.IntN(2) == 0 {
		if ro {
			at = w.rva
		} else {
			at = w.va
		}
	}
	ne := binary.NativeEndian
	c := o.begin(ro, a, b)
	old, oldKnown := o.knownBytes(a, size)
	var oldv uint64
	if oldKnown {
		if size == 4 {
			oldv = uint64(ne.Uint32(old))
		} else {
			oldv = ne.Uint64(old)
		}
	}
	x := o.rng.Uint64()
	if size == 4 {
		x = uint64(uint32(x))
	}
	var err error
	var got uint64
	var swapped bool
	names := []string{"Load", "Store", "Add", "CompareAndSwap"}
	switch kind {
	case 0:
		if size == 4 {
			var y uint32
			y, err = at.LoadUint32(a)
			got = uint64(y)
		} else {
			got, err = at.LoadUint64(a)
		}
	case 1:
		if size == 4 {
			err = at.StoreUint32(a, uint32(x))
		} else {
			err = at.StoreUint64(a, x)
		}
	case 2:
		if size == 4 {
			var y uint32
			y, err = at.AddUint32(a, uint32(x))
			got = uint64(y)
		} else {
			got, err = at.AddUint64(a, x)
		}
	case 3:
		expect := oldv
		if !oldKnown {
			expect = o.rng.Uint64()
		}
		if size == 4 {
			swapped, err = at.CompareAndSwapUint32(a, uint32(expect), uint32(x))
		} else {
			swapped, err = at.CompareAndSwapUint64(a, expect, x)
		}
	}
	r := o.end(c)
	what := fmt.Sprintf("atomic %s%d at %d (follower %v)", names[kind], 8*size, a, ro)
	ok := o.verr(c, r, what, "atomic ", err, stormyInRange, b)
	certain := oldKnown && b <= r.minT
	switch kind {
	case 0:
		if ok {
			o.compare(what, a, stormyEncode(ne, size, got), r)
		}
	case 1:
		o.record(a, stormyEncode(ne, size, x), stormyOutcome(err, true), r)
	case 2:
		if ok {
			want := oldv + x
			if size == 4 {
				want = uint64(uint32(want))
			}
			if certain && got != want {
				w.e.failf("phase %d owner %d: %s: new value %#x, want %#x + %#x = %#x", w.phase, o.g, what, got, oldv, x, want)
			}
			o.record(a, stormyEncode(ne, size, got), stormyDone, r)
		} else {
			o.record(a, make([]byte, size), stormyOutcome(err, true), r)
		}
	case 3:
		if ok {
			if certain && !swapped {
				w.e.failf("phase %d owner %d: %s: did not swap a word that only this goroutine writes and that holds the expected %#x",
					w.phase, o.g, what, oldv)
			}
			if swapped {
				o.record(a, stormyEncode(ne, size, x), stormyDone, r)
			}
		} else {
			o.record(a, make([]byte, size), stormyOutcome(err, true), r)
		}
	}
}

func (o *stormyOwner) opSlice(write bool) {
	w := o.w
	ro := !write && o.useRO()
	k, a, b := o.claim(1, false, 0)
	defer delete(o.busy, k)
	v, _, vname := o.acc(ro)
	n := int(b - a)
	var data, got []byte
	if write {
		data = o.bytes(b - a)
	}
	what := fmt.Sprintf("%s Slice of %d bytes at %d (write %v)", vname, n, a, write)
	c := o.begin(ro, a, b)
	view, err := v.Slice(a, n)
	if err == nil {
		if view.Off() != a {
			w.e.failf("%s: Off is %d", what, view.Off())
		}
		bs := view.Bytes()
		short := len(bs) != n || cap(bs) != n
		if short {
			w.e.failf("%s: Bytes has length %d and capacity %d, want %d", what, len(bs), cap(bs), n)
		}
		got = o.fillOrCopy(bs, data, write, short)
		view.Release()
		if o.rng.IntN(2) == 0 {
			view.Release()
		}
		if view.Bytes() != nil {
			w.e.failf("%s: Bytes is not nil after Release", what)
		}
	}
	o.settle(c, o.end(c), what, "slice (", err, a, b, write, data, got)
}

// opBatchTricks writes through a Batch whose function then panics, returns
// its own error, or lets its Batch (and a copy) escape, and checks what the
// docs promise of each: the panic goes on, the error is passed on as it is,
// an escaped Batch returns ErrClosed.
func (o *stormyOwner) opBatchTricks() {
	w := o.w
	k, a, b := o.claim(1, false, 0)
	defer delete(o.busy, k)
	n := int(b - a)
	data := o.bytes(b - a)
	mode := o.rng.IntN(3)
	pv := &stormyPanic{o.g}
	fe := &stormyFnErr{o.g}
	what := fmt.Sprintf("Batch (mode %d) writing %d bytes at %d", mode, n, a)
	var escaped *chunkmap.Batch
	var escapedCopy chunkmap.Batch
	stored, called, returned := false, false, false
	var err, inner error
	c := o.begin(false, a, b)
	func() {
		defer func() {
			rec := recover()
			switch {
			case mode == 0 && called:
				if rec != pv {
					w.e.failf("%s: the function's panic came back as %v", what, rec)
				}
			case rec != nil:
				w.e.failf("%s: unexpected panic %v", what, rec)
			}
		}()
		err = w.m.Batch(func(bt *chunkmap.Batch) error {
			called = true
			dst, e := bt.WritableBytes(a, n)
			inner = e
			if e == nil {
				copy(dst, data)
				stored = true
			}
			if o.rng.IntN(3) == 0 {
				o.nested()
			}
			escaped = bt
			escapedCopy = *bt
			switch mode {
			case 0:
				panic(pv)
			case 1:
				return fe
			}
			return e
		})
		returned = true
	}()
	r := o.end(c)
	if called {
		o.verr(c, r, what+" (WritableBytes)", "batch write ", inner, stormyInRange, b)
	}
	switch {
	case !called:
		o.verr(c, r, what, "batch ", err, stormyInRange, b)
	case mode == 0 && returned:
		w.e.failf("%s: Batch returned (%v) after its function panicked", what, err)
	case mode == 1 && err != fe:
		w.e.failf("%s: Batch returned %v, want its function's error as it is", what, err)
	case mode == 2:
		o.verr(c, r, what, "batch", err, stormyInRange, b)
	}
	if escaped != nil {
		if _, e := escaped.Bytes(a, 1); !errors.Is(e, chunkmap.ErrClosed) {
			w.e.failf("%s: Batch used after its function returned: got %v, want ErrClosed", what, e)
		} else {
			w.e.check(what+" (escaped Batch)", "batch read ", e, chunkmap.ErrClosed)
		}
		if _, e := escapedCopy.WritableBytes(a, 1); !errors.Is(e, chunkmap.ErrClosed) {
			w.e.failf("%s: copy of a Batch used after its function returned: got %v, want ErrClosed", what, e)
		}
	}
	oc := stormyNotDone
	if stored {
		oc = stormyDone
	}
	o.record(a, data, oc, r)
}

// opBatchSeesTruncate takes bytes of its cell in a Batch, waits inside the
// function for one Truncate to run from start to end with no other
// overlapping it, and takes the bytes again: "Each call sees the dataset as
// it is at that moment: after a concurrent Truncate ... the next call checks
// the range, Size and the Manager again, and a chunk deleted and created
// again is reached anew" (Batch). So the second call either fails with
// ErrOutOfRange (Size is below the range now) or returns bytes that are zero
// from the Truncate's target on (nobody else writes the cell, and later
// Truncates only cut more). The first call's bytes stay readable memory
// until the function returns.
func (o *stormyOwner) opBatchSeesTruncate() {
	w := o.w
	if !w.cfg.shrink || o.depth > 0 {
		return
	}
	k, a, b := o.claim(1, false, 0)
	defer delete(o.busy, k)
	n := int(b - a)
	what := fmt.Sprintf("Batch Bytes of %d bytes at %d before and after a Truncate", n, a)
	c := o.begin(false, a, b)
	err := w.m.Batch(func(bt *chunkmap.Batch) error {
		p1, e := bt.Bytes(a, n)
		if e != nil {
			return nil // out of range already: nothing to see
		}
		d := w.ev.done.Load()
		if w.ev.started.Load() != d {
			return nil // a Truncate is running: not from its start
		}
		until := time.Now().Add(30 * time.Millisecond)
		for w.ev.done.Load() == d && time.Now().Before(until) {
			time.Sleep(100 * time.Microsecond)
		}
		if w.ev.done.Load() != d+1 || w.ev.started.Load() != d+1 {
			return nil // none finished, or another overlapped it
		}
		target := w.ev.slice(d, d+1)[0]
		sz := w.m.Size()
		w.sawTruncate.Add(1)
		p2, e := bt.Bytes(a, n)
		var sum byte
		for _, v := range p1 {
			sum += v // the first bytes are still readable memory
		}
		_ = sum
		if e != nil {
			if errors.Is(e, chunkmap.ErrClosed) && w.closing.Load() {
				return nil
			}
			if w.ev.started.Load() != d+1 {
				return nil // another Truncate started since: it may have cut the range
			}
			if !errors.Is(e, chunkmap.ErrOutOfRange) || sz >= b {
				w.e.failf("phase %d owner %d: %s (target %d, Size %d): second call: %v", w.phase, o.g, what, target, sz, e)
			}
			return nil
		}
		for i, v := range p2 {
			if x := a + int64(i); x >= target && v != 0 {
				w.e.failf("phase %d owner %d: %s: byte at %d (chunk %d) past the Truncate's target %d is %#02x, want 0: the Batch's next call did not see the dataset as it is",
					w.phase, o.g, what, x, x/stormyC, target, v)
				break
			}
		}
		return nil
	})
	r := o.end(c)
	o.verr(c, r, what, "batch", err, stormyInRange, b)
}

func (o *stormyOwner) opReadAt() {
	w := o.w
	ro := o.useRO()
	_, a, b := o.pick(1, false, 0)
	buf := make([]byte, b-a)
	var n int
	var err error
	var via string
	c := o.begin(ro, a, b)
	switch o.rng.IntN(3) {
	case 0:
		via = "Manager.ReadAt"
		n, err = w.mgr(ro).ReadAt(buf, a)
	case 1:
		via = "ViewAccessor.ReadAt"
		v, _, _ := o.acc(ro)
		n, err = v.ReadAt(buf, a)
	default:
		via = "io.SectionReader.ReadAt"
		v, _, _ := o.acc(ro)
		n, err = io.NewSectionReader(v, a, b-a).ReadAt(buf, 0)
	}
	r := o.end(c)
	what := fmt.Sprintf("%s of %d bytes at %d (follower %v)", via, len(buf), a, ro)
	if n < 0 || n > len(buf) {
		w.e.failf("%s: n = %d", what, n)
		return
	}
	ok := o.verr(c, r, what, "read ", err, stormyInRange, b)
	if ok && n != len(buf) {
		w.e.failf("%s: read %d bytes with a nil error", what, n)
	}
	o.compare(what, a, buf[:n], r)
}

func (o *stormyOwner) opScan() {
	w := o.w
	ro := o.useRO()
	st := &stormyScans[o.rng.IntN(len(stormyScans))]
	k, a, b := o.claim(st.size, o.rng.IntN(2) == 0, 0)
	defer delete(o.busy, k)
	v, order, vname := o.acc(ro)
	count := int((b - a) / st.size)
	brk, nestAt, panicAt := -1, -1, -1
	if o.rng.IntN(2) == 0 {
		brk = o.rng.IntN(count)
	}
	if o.rng.IntN(4) == 0 {
		nestAt = o.rng.IntN(count)
	}
	if o.rng.IntN(10) == 0 {
		panicAt = o.rng.IntN(count)
	}
	what := fmt.Sprintf("%s scan %s of %d values at %d (break %d, panic %d)", vname, st.name, count, a, brk, panicAt)
	pv := &stormyPanic{o.g}
	s := v.Scan()
	var got []byte
	i := 0
	stopped := false
	c := o.begin(ro, a, b)
	func() {
		defer func() {
			if rec := recover(); rec != nil {
				if rec != pv {
					w.e.failf("%s: panic of the loop body came back as %v", what, rec)
				}
				stopped = true
			}
		}()
		st.scan(s, a, count, func(off int64, x uint64) bool {
			if want := a + int64(i)*st.size; off != want {
				w.e.failf("%s: value %d yielded at offset %d, want %d", what, i, off, want)
				return false
			}
			got = append(got, stormyEncode(order, st.size, x)...)
			if i == nestAt {
				o.nested()
			}
			if i == panicAt {
				panic(pv)
			}
			if i == brk {
				stopped = true
				return false
			}
			i++
			return true
		})
	}()
	r := o.end(c)
	err := s.Err()
	ok := o.verr(c, r, what, "scan ", err, stormyInRange, b)
	if ok && !stopped && i != count {
		w.e.failf("%s: yielded %d of %d values and Err is nil", what, i, count)
	}
	o.compare(what, a, got, r)
	if err != nil {
		// The first error sticks: a later scan yields nothing.
		for range s.Uint16s(a, 1) {
			w.e.failf("%s: a Scanner holding an error yielded a value", what)
		}
		if s.Err() != err {
			w.e.failf("%s: Err changed from %v to %v", what, err, s.Err())
		}
	}
}

func (o *stormyOwner) opBlocks() {
	w := o.w
	ro := o.useRO()
	k, a, b := o.claim(1, false, 0)
	defer delete(o.busy, k)
	v, _, vname := o.acc(ro)
	s := v.Scan()
	nblocks := int((b-1)/stormyC - a/stormyC + 1)
	brk, nestAt := -1, -1
	if o.rng.IntN(3) == 0 {
		brk = o.rng.IntN(nblocks)
	}
	if o.rng.IntN(3) == 0 {
		nestAt = o.rng.IntN(nblocks)
	}
	what := fmt.Sprintf("%s scan Blocks of %d bytes at %d (break %d)", vname, b-a, a, brk)
	next := a
	var got []byte
	i := 0
	stopped := false
	c := o.begin(ro, a, b)
	for off, blk := range s.Blocks(a, b-a) {
		end := min(b, (off/stormyC+1)*stormyC)
		if off != next || int64(len(blk)) != end-off {
			w.e.failf("%s: block %d is %d bytes at %d, want %d bytes at %d", what, i, len(blk), off, end-next, next)
			break
		}
		got = append(got, blk...)
		next = end
		if i == nestAt {
			o.nested()
		}
		if i == brk {
			stopped = true
			break
		}
		i++
	}
	r := o.end(c)
	err := s.Err()
	ok := o.verr(c, r, what, "scan ", err, stormyInRange, b)
	if ok && !stopped && next != b {
		w.e.failf("%s: blocks ended at %d and Err is nil", what, next)
	}
	o.compare(what, a, got, r)
}

// opMisc runs a call that moves no owned bytes: Sync, Stats, Advise over an
// owned range, Grow, and on the follower Refresh.
func (o *stormyOwner) opMisc() {
	w := o.w
	ro := o.useRO()
	_, a, b := o.pick(1, false, 0)
	mgr := w.mgr(ro)
	c := o.begin(ro, a, b)
	var err error
	var what, prefix string
	kind := stormyExtends
	switch o.rng.IntN(5) {
	case 0:
		what, prefix = "Sync", "sync "
		fl := &w.fl
		if ro {
			fl = &w.rfl
		}
		k := w.end/stormyC + 4 // Sync holds the dirty chunks it fsyncs
		fl.begin(k)
		err = mgr.Sync()
		fl.end(k)
	case 1:
		// Stats has no error to check; its bounds are the sampler's.
		st := mgr.Stats()
		o.end(c)
		if st.Mapped < 0 || st.Pinned < 0 {
			w.e.failf("Stats: %+v", st)
		}
		return
	case 2:
		adv := chunkmap.Advice(o.rng.IntN(5))
		what, prefix = fmt.Sprintf("Advise(%v) of %d bytes at %d", adv, b-a, a), "advise "
		err = mgr.Advise(a, b-a, adv)
		kind = stormyInRange
	case 3:
		if ro {
			what, prefix = "Refresh", "refresh "
			err = mgr.Refresh()
		} else {
			what, prefix = "Grow", "grow "
			err = mgr.Grow(o.rng.Int64N(2 * stormyC))
		}
	default:
		what, prefix = "Refresh", "refresh "
		err = mgr.Refresh()
	}
	r := o.end(c)
	o.verr(c, r, what+fmt.Sprintf(" (follower %v)", ro), prefix, err, kind, b)
}

// opReadOnlyWrite tries a write through the follower: ErrReadOnly.
func (o *stormyOwner) opReadOnlyWrite() {
	w := o.w
	if w.ro == nil {
		return
	}
	_, a, b := o.pick(1, false, 0)
	n := int(b - a)
	var err error
	var what, prefix string
	c := o.begin(true, a, b)
	switch o.rng.IntN(10) {
	case 0:
		what, prefix = "WriteAt", "write "
		_, err = w.ro.WriteAt(make([]byte, n), a)
	case 1:
		what, prefix = "Append", "append "
		_, err = w.ro.Append(make([]byte, n))
	case 2:
		what, prefix = "PinWritable", "pin "
		var p *chunkmap.Pinned
		p, err = w.ro.PinWritable(a, n)
		if err == nil {
			p.Release()
		}
	case 3:
		what, prefix = "Scatter", "scatter "
		err = w.ro.Scatter(make([]byte, 1), []int64{a}, 1)
	case 4:
		what, prefix = "StoreUint64", "atomic "
		err = w.ro.StoreUint64(a&^7, 0)
	case 5:
		what, prefix = "Truncate", "truncate "
		err = w.ro.Truncate(a)
	case 6:
		what, prefix = "DropBefore", "drop "
		err = w.ro.DropBefore(a)
	case 7:
		what, prefix = "Grow", "grow "
		err = w.ro.Grow(int64(n))
	case 8:
		what, prefix = "Batch WritableBytes", "batch"
		err = w.ro.Batch(func(bt *chunkmap.Batch) error {
			_, e := bt.WritableBytes(a, n)
			return e
		})
	default:
		what, prefix = "accessor WriteUint64", "write "
		err = w.rva.WriteUint64(a, 1)
	}
	r := o.end(c)
	what = "follower " + what
	if err == nil {
		w.e.failf("phase %d owner %d: %s: nil error on a ReadOnly Manager", w.phase, o.g, what)
		return
	}
	al := []error{chunkmap.ErrReadOnly}
	if r.closing {
		al = append(al, chunkmap.ErrClosed)
	}
	w.e.check(what, prefix, err, al...)
}

// ---------------------------------------------------------------------------
// The other goroutines.

// noise reads, pins, gathers and batches anywhere, holds pins over other
// calls, and calls Sync, Advise, Grow and Refresh, checking only errors.
func (w *stormyWorld) noise(id int) {
	rng := stormyRNG(w.seed, uint64(1000+100*w.phase+id))
	var held []*chunkmap.Pinned
	var heldK []int64
	var heldRO []bool
	release := func(i int) {
		fl := w.flight(heldRO[i])
		fl.begin(heldK[i])
		held[i].Release()
		fl.end(heldK[i])
	}
	defer func() {
		for i := range held {
			release(i)
		}
	}()
	post := 0
	for w.running() || w.after(&post) {
		ro := w.ro != nil && rng.IntN(3) == 0
		mgr := w.mgr(ro)
		fl := &w.fl
		closing, closed := &w.closing, &w.closed
		if ro {
			fl = &w.rfl
			closing, closed = &w.rclosing, &w.rclosed
		}
		a := rng.Int64N(w.end + stormyC)
		n := 1 + rng.Int64N(3*stormyC)
		if rng.IntN(2) == 0 {
			n = 1 + rng.Int64N(64)
		}
		k := stormySpan(a, a+n)
		closed0 := closed.Load()
		d0, dd0 := w.ev.done.Load(), w.ev.ddone.Load()
		fl.begin(k)
		var err error
		var what, prefix string
		op := rng.IntN(10)
		switch op {
		case 0, 1:
			what, prefix = "ReadAt", "read "
			_, err = mgr.ReadAt(make([]byte, n), a)
		case 2:
			what, prefix = "Pin", "pin "
			var p *chunkmap.Pinned
			p, err = mgr.Pin(a, int(n))
			if err == nil {
				if len(p.Bytes()) != int(n) {
					w.e.failf("noise Pin of %d bytes at %d: %d bytes", n, a, len(p.Bytes()))
				}
				_ = p.Bytes()[n-1] // touch: the bytes must be mapped
				held = append(held, p)
				heldK = append(heldK, k)
				heldRO = append(heldRO, ro)
			}
		case 3:
			what, prefix = "Gather", "gather "
			offs := make([]int64, 1+rng.IntN(64))
			for i := range offs {
				offs[i] = rng.Int64N(w.end)
			}
			err = mgr.Gather(make([]byte, 8*len(offs)), offs, 8)
		case 4:
			what, prefix = "Batch", "batch"
			err = mgr.Batch(func(bt *chunkmap.Batch) error {
				for off := a; off < a+n; off += stormyC / 2 {
					p, e := bt.Bytes(off, int(min(64, a+n-off)))
					if e != nil {
						return e
					}
					_ = p[0]
				}
				return nil
			})
		case 5:
			what, prefix = "Advise", "advise "
			err = mgr.Advise(a, n, chunkmap.Advice(rng.IntN(5)))
		case 6:
			what, prefix = "Sync", "sync "
			k := w.end/stormyC + 4 // Sync holds the dirty chunks it fsyncs
			fl.begin(k)
			err = mgr.Sync()
			fl.end(k)
		case 7:
			if ro {
				what, prefix = "Refresh", "refresh "
				err = mgr.Refresh()
			} else {
				what, prefix = "Grow", "grow "
				err = mgr.Grow(rng.Int64N(2 * stormyC))
			}
		default:
			what = "Stats"
			_ = mgr.Stats()
		}
		fl.end(k)
		if len(held) > 2 || (len(held) > 0 && rng.IntN(3) == 0) {
			release(0)
			held, heldK, heldRO = held[1:], heldK[1:], heldRO[1:]
		}
		what = fmt.Sprintf("phase %d noise %d: %s of %d bytes at %d (follower %v)", w.phase, id, what, n, a, ro)
		if closed0 {
			if err == nil && prefix != "" {
				w.e.failf("%s: succeeded after Close had returned", what)
			} else if err != nil {
				w.e.check(what+" (after Close)", prefix, err, chunkmap.ErrClosed)
			}
			continue
		}
		al := []error{chunkmap.ErrOutOfRange, io.EOF}
		if closing.Load() {
			al = append(al, chunkmap.ErrClosed)
		}
		if ro && (w.ev.started.Load() > d0 || w.ev.dstart.Load() > dd0) {
			al = append(al, chunkmap.ErrFault)
		}
		if op == 6 || (op == 7 && !ro) {
			al = al[2:] // Sync and Grow: no range to be out of
		}
		w.e.check(what, prefix, err, al...)
	}
}

// sampler checks the Stats bounds of the writer and the follower.
func (w *stormyWorld) sampler() {
	ws := &stormySampler{e: w.e, name: "writer", m: w.m, maxMapped: w.opts.MaxMapped, fl: &w.fl}
	var rs *stormySampler
	if w.ro != nil {
		rs = &stormySampler{e: w.e, name: "follower", m: w.ro, maxMapped: w.ropts.MaxMapped, fl: &w.rfl}
	}
	post := 0
	for w.running() || w.after(&post) {
		ws.sample()
		if rs != nil {
			rs.sample()
		}
		time.Sleep(50 * time.Microsecond)
	}
	w.samples.Add(int64(ws.n))
	w.excess.Store(max(w.excess.Load(), ws.excess))
	if rs != nil {
		w.samples.Add(int64(rs.n))
		w.excess.Store(max(w.excess.Load(), rs.excess))
	}
}

// shrinker truncates the owned area above its frozen cells, and extends it
// again, as events the owners apply.
func (w *stormyWorld) shrinker() {
	rng := stormyRNG(w.seed, uint64(2000+w.phase))
	for w.running() {
		var target int64
		switch rng.IntN(5) {
		case 0, 1:
			lo := (w.floor + stormyC - 1) / stormyC
			hi := w.end / stormyC
			if hi >= lo {
				target = (lo + rng.Int64N(hi-lo+1)) * stormyC
			} else {
				target = w.floor
			}
		case 2, 3:
			target = w.floor + rng.Int64N(w.end-w.floor+1)
		default:
			target = w.end
		}
		w.ev.begin(target)
		idx := w.ev.started.Load() - 1
		w.fl.begin(1)
		err := w.m.Truncate(target)
		w.fl.end(1)
		if errors.Is(err, chunkmap.ErrClosed) {
			w.ev.cancel(idx) // "Nothing was done"
		}
		w.ev.done.Add(1)
		al := []error{}
		if w.closing.Load() {
			al = append(al, chunkmap.ErrClosed)
		}
		w.e.check(fmt.Sprintf("phase %d Truncate(%d)", w.phase, target), "truncate ", err, al...)
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Microsecond)
	}
}

// dropper drops the prefix below the owned area a chunk at a time, and
// calls DropBefore at or below Start (which does nothing).
func (w *stormyWorld) dropper() {
	rng := stormyRNG(w.seed, uint64(3000+w.phase))
	for w.running() {
		start := w.m.Start()
		target := start + stormyC
		if target > w.base || rng.IntN(2) == 0 {
			target = start - rng.Int64N(start+1)
		}
		w.ev.dstart.Add(1)
		w.fl.begin(1)
		err := w.m.DropBefore(target)
		w.fl.end(1)
		w.ev.ddone.Add(1)
		al := []error{}
		if w.closing.Load() {
			al = append(al, chunkmap.ErrClosed)
		}
		if w.e.check(fmt.Sprintf("phase %d DropBefore(%d)", w.phase, target), "drop ", err, al...) {
			if s := w.m.Start(); s < target/stormyC*stormyC && !w.closing.Load() {
				w.e.failf("DropBefore(%d) returned but Start is %d", target, s)
			}
		}
		time.Sleep(time.Duration(2000+rng.IntN(4000)) * time.Microsecond)
	}
}

// appender appends self-checking records past the owned area.
func (w *stormyWorld) appender(id int) {
	rng := stormyRNG(w.seed, uint64(4000+100*w.phase+id))
	seq := 0
	for w.running() {
		n := 1 + rng.IntN(3000)
		rec := stormyRecord(rng, id, seq, n)
		seq++
		k := stormySpan(w.m.Size(), w.m.Size()+int64(len(rec)))
		w.fl.begin(k)
		off, err := w.m.Append(rec)
		w.fl.end(k)
		what := fmt.Sprintf("phase %d appender %d: Append of %d bytes", w.phase, id, len(rec))
		al := []error{}
		if w.closing.Load() {
			al = append(al, chunkmap.ErrClosed)
		}
		if !w.e.check(what, "append ", err, al...) {
			continue
		}
		if off < w.end {
			w.e.failf("%s: at %d, inside the area [%d, %d) that Size already covered", what, off, w.base, w.end)
		}
		if sz := w.m.Size(); sz < off+int64(len(rec)) {
			w.e.failf("%s: returned but Size %d does not cover it (end %d)", what, sz, off+int64(len(rec)))
		}
		got := make([]byte, len(rec))
		if _, err := w.m.ReadAt(got, off); err != nil || !bytes.Equal(got, rec) {
			if !(errors.Is(err, chunkmap.ErrClosed) && w.closing.Load()) {
				w.e.failf("%s at %d: read back: %v, equal %v", what, off, err, bytes.Equal(got, rec))
			}
		}
		if w.ro != nil {
			if _, err := w.ro.ReadAt(got, off); err != nil || !bytes.Equal(got, rec) {
				if !(errors.Is(err, chunkmap.ErrClosed) && w.rclosing.Load()) {
					w.e.failf("%s at %d: read back through the follower: %v, equal %v", what, off, err, bytes.Equal(got, rec))
				}
			}
		}
		w.recMu.Lock()
		w.recs = append(w.recs, stormyRec{off, rec})
		w.recMu.Unlock()
	}
}

// stormyRecord returns a record of n payload bytes: magic, writer, sequence,
// length and CRC-32 of the payload, then the payload.
func stormyRecord(rng *rand.Rand, id, seq, n int) []byte {
	rec := make([]byte, 20+n)
	for i := 20; i < len(rec); i++ {
		rec[i] = byte(rng.Uint32())
	}
	binary.LittleEndian.PutUint32(rec[0:], 0x4d524f54)
	binary.LittleEndian.PutUint32(rec[4:], uint32(id))
	binary.LittleEndian.PutUint32(rec[8:], uint32(seq))
	binary.LittleEndian.PutUint32(rec[12:], uint32(n))
	binary.LittleEndian.PutUint32(rec[16:], crc32.ChecksumIEEE(rec[20:]))
	return rec
}

// stormyParseRecord returns the length of the record at the start of b, or
// -1 if b does not start with a whole, intact record.
func stormyParseRecord(b []byte) int {
	if len(b) < 20 || binary.LittleEndian.Uint32(b) != 0x4d524f54 {
		return -1
	}
	n := int(binary.LittleEndian.Uint32(b[12:]))
	if n > len(b)-20 || crc32.ChecksumIEEE(b[20:20+n]) != binary.LittleEndian.Uint32(b[16:]) {
		return -1
	}
	return 20 + n
}

// holder pins ranges of the frozen cells (which nothing writes after the
// init) on the writer and the follower, checks their bytes while the storm
// evicts around them, and keeps the last ones over the quiescent checks.
func (w *stormyWorld) holder() {
	rng := stormyRNG(w.seed, uint64(5000+w.phase))
	w.releaseHeld()
	frozen := w.floor - w.base
	check := func(h stormyHeld) {
		var bs []byte
		if h.p != nil {
			bs = h.p.Bytes()
		} else {
			bs = h.v.Bytes()
		}
		if int64(len(bs)) != h.n {
			w.e.failf("phase %d holder: pin of %d bytes at %d has %d bytes", w.phase, h.n, h.off, len(bs))
			return
		}
		want := w.shadow[h.off-w.base : h.off-w.base+h.n]
		if !bytes.Equal(bs, want) {
			i := 0
			for bs[i] == want[i] {
				i++
			}
			w.e.failf("phase %d holder: pinned byte at %d (follower %v) is %#02x, want %#02x",
				w.phase, h.off+int64(i), h.ro, bs[i], want[i])
		}
	}
	for w.running() {
		if len(w.held) < 4 {
			ro := w.ro != nil && !w.rclosing.Load() && rng.IntN(3) == 0
			off := w.base + rng.Int64N(frozen)
			n := 1 + rng.Int64N(w.base+frozen-off)
			h := stormyHeld{ro: ro, off: off, n: n, span: stormySpan(off, off+n) - 1}
			var err error
			slice := !ro && rng.IntN(3) == 0
			w.flight(ro).begin(h.span + 1)
			if slice {
				h.v, err = w.va.Slice(off, int(n))
			} else {
				h.p, err = w.mgr(ro).Pin(off, int(n))
			}
			w.flight(ro).end(h.span + 1)
			al := []error{}
			if (!ro && w.closing.Load()) || (ro && w.rclosing.Load()) {
				al = append(al, chunkmap.ErrClosed)
			}
			prefix := "pin "
			if slice {
				prefix = "slice ("
			}
			if w.e.check(fmt.Sprintf("phase %d holder: pin of %d bytes at %d (follower %v)", w.phase, n, off, ro), prefix, err, al...) {
				w.held = append(w.held, h)
			}
		} else if rng.IntN(4) == 0 {
			i := rng.IntN(len(w.held))
			check(w.held[i])
			w.releaseOne(i)
		}
		for _, h := range w.held {
			check(h)
		}
		time.Sleep(200 * time.Microsecond)
	}
	for _, h := range w.held {
		check(h)
	}
}

func (w *stormyWorld) releaseOne(i int) {
	h := w.held[i]
	w.flight(h.ro).begin(h.span + 1)
	if h.p != nil {
		h.p.Release()
	} else {
		h.v.Release()
	}
	w.flight(h.ro).end(h.span + 1)
	w.held = append(w.held[:i], w.held[i+1:]...)
}

// flight returns the in-flight counter of the writer or the follower.
func (w *stormyWorld) flight(ro bool) *stormyFlight {
	if ro {
		return &w.rfl
	}
	return &w.fl
}

func (w *stormyWorld) releaseHeld() {
	for len(w.held) > 0 {
		w.releaseOne(0)
	}
}

// heldChunks returns the distinct chunks the holder's pins of the writer
// (or the follower) cover, and the sum of their spans.
func (w *stormyWorld) heldChunks(ro bool) (distinct, sum int) {
	set := map[int64]bool{}
	for _, h := range w.held {
		if h.ro != ro {
			continue
		}
		for c := h.off / stormyC; c <= (h.off+h.n-1)/stormyC; c++ {
			set[c] = true
		}
		sum += int(h.span)
	}
	return len(set), sum
}

// ---------------------------------------------------------------------------
// Phases.

// storm runs one phase: every goroutine of the configuration at once, for
// the phase's budget (or, in a close scenario, until the owners are done
// after the Close).
func (w *stormyWorld) storm(phase int, extra func(sg *stormyGroup)) {
	w.phase = phase
	w.phaseEnd = time.Now().Add(stormyBudget())
	sg := &stormyGroup{t: w.e.t}
	for _, o := range w.owners {
		sg.Go(fmt.Sprintf("owner %d", o.g), o.run)
	}
	for i := range w.cfg.noise {
		sg.Go(fmt.Sprintf("noise %d", i), func() { w.noise(i) })
	}
	sg.Go("sampler", w.sampler)
	if w.cfg.frozenCells > 0 {
		sg.Go("holder", w.holder)
	}
	if w.cfg.shrink {
		sg.Go("shrinker", w.shrinker)
	}
	if w.cfg.drop {
		sg.Go("dropper", w.dropper)
	}
	for i := range w.cfg.appenders {
		sg.Go(fmt.Sprintf("appender %d", i), func() { w.appender(i) })
	}
	if extra != nil {
		extra(sg)
	}
	sg.Wait(fmt.Sprintf("phase %d", phase))
}

// quiesce checks, with every goroutine stopped (the holder's pins still
// held), the Stats bounds, the chunk files, the follower's Size and Start,
// and every known byte of the area through the writer and the follower.
func (w *stormyWorld) quiesce(phase int) {
	t := w.e.t
	for _, o := range w.owners {
		o.applyEvents(w.ev.started.Load())
	}
	if w.closed.Load() {
		return
	}
	if w.cfg.shrink {
		// Extend the area again: every byte a Truncate cut must read as zero.
		if sz := w.m.Size(); sz < w.end {
			if err := w.m.Truncate(w.end); err != nil {
				w.e.failf("quiesce %d: Truncate(%d) to extend: %v", phase, w.end, err)
			}
		}
	}
	st := w.m.Stats()
	distinct, sum := w.heldChunks(false)
	if st.Pinned < distinct || st.Pinned > sum {
		w.e.failf("quiesce %d: writer Stats.Pinned = %d, want within [%d, %d] (the chunks the test's pins cover; nothing else holds any): %+v",
			phase, st.Pinned, distinct, sum, st)
	}
	if st.Mapped > w.opts.MaxMapped+st.Pinned {
		w.e.failf("quiesce %d: writer Stats.Mapped = %d > MaxMapped %d + Pinned %d: %+v", phase, st.Mapped, w.opts.MaxMapped, st.Pinned, st)
	}
	if st.Pinned > st.Mapped {
		w.e.failf("quiesce %d: writer Stats: more chunks held than mapped: %+v", phase, st)
	}
	if files := stormyChunkFiles(t, w.e.dir); files != st.Chunks {
		w.e.failf("quiesce %d: writer Stats.Chunks = %d, but the directory holds %d chunk files", phase, st.Chunks, files)
	}
	w.readback(fmt.Sprintf("quiesce %d: writer", phase), w.m)
	if w.ro != nil && !w.rclosed.Load() {
		rst := w.ro.Stats()
		distinct, sum := w.heldChunks(true)
		if rst.Pinned < distinct || rst.Pinned > sum {
			w.e.failf("quiesce %d: follower Stats.Pinned = %d, want within [%d, %d]: %+v", phase, rst.Pinned, distinct, sum, rst)
		}
		if rst.Mapped > w.ropts.MaxMapped+rst.Pinned {
			w.e.failf("quiesce %d: follower Stats.Mapped = %d > MaxMapped %d + Pinned %d: %+v", phase, rst.Mapped, w.ropts.MaxMapped, rst.Pinned, rst)
		}
		if w.ro.Size() != w.m.Size() || w.ro.Start() != w.m.Start() {
			w.e.failf("quiesce %d: follower [Start, Size) = [%d, %d), writer's [%d, %d)",
				phase, w.ro.Start(), w.ro.Size(), w.m.Start(), w.m.Size())
		}
		w.readback(fmt.Sprintf("quiesce %d: follower", phase), w.ro)
	}
}

// readback reads the whole area and every appended record through m and
// compares every known byte. Every goroutine is stopped: the owners' models
// take every Truncate that returned first.
func (w *stormyWorld) readback(what string, m *chunkmap.Manager) {
	for _, o := range w.owners {
		o.applyEvents(w.ev.done.Load())
	}
	buf := make([]byte, w.end-w.base)
	sz := m.Size()
	n, err := m.ReadAt(buf, w.base)
	switch {
	case sz >= w.end && (err != nil || n != len(buf)):
		w.e.failf("%s: ReadAt of the area: n=%d, %v (Size %d)", what, n, err, sz)
		return
	case sz < w.end && int64(n) != max(0, sz-w.base):
		w.e.failf("%s: ReadAt of the area: n=%d, %v (Size %d)", what, n, err, sz)
		return
	}
	for i := range buf[:n] {
		if w.known[i] && buf[i] != w.shadow[i] {
			x := w.base + int64(i)
			k := int(int64(i) / w.cfg.cellSize)
			w.e.failf("%s: byte at offset %d (chunk %d, cell %d of owner %d) is %#02x, want %#02x",
				what, x, x/stormyC, k, w.cellOwner[k], buf[i], w.shadow[i])
			return
		}
	}
	w.recMu.Lock()
	recs := append([]stormyRec(nil), w.recs...)
	w.recMu.Unlock()
	for _, r := range recs {
		got := make([]byte, len(r.b))
		if _, err := m.ReadAt(got, r.off); err != nil || !bytes.Equal(got, r.b) {
			w.e.failf("%s: appended record at %d: %v, intact %v", what, r.off, err, bytes.Equal(got, r.b))
			return
		}
	}
	if len(recs) > 0 {
		// Appends never overlap and Size covers no hole: from the area's end
		// to Size there are whole records only.
		tail := make([]byte, m.Size()-w.end)
		if _, err := m.ReadAt(tail, w.end); err != nil {
			w.e.failf("%s: ReadAt of the appended records: %v", what, err)
			return
		}
		for p := 0; p < len(tail); {
			l := stormyParseRecord(tail[p:])
			if l < 0 {
				w.e.failf("%s: no intact record at offset %d (records end at Size %d)", what, w.end+int64(p), m.Size())
				return
			}
			p += l
		}
	}
}

// finish releases the holder's pins, closes the follower and the writer,
// checks that nothing stays mapped or held, and reopens the dataset to read
// every known byte back.
func (w *stormyWorld) finish() {
	t := w.e.t
	w.releaseHeld()
	if w.ro != nil && !w.rclosed.Load() {
		w.rclosing.Store(true)
		var err error
		stormyWithin(t, "follower Close", func() { err = w.ro.Close() })
		w.e.check("follower Close", "close ", err)
		w.rclosed.Store(true)
	}
	if !w.closed.Load() {
		w.closing.Store(true)
		var err error
		stormyWithin(t, "Close", func() { err = w.m.Close() })
		w.e.check("Close", "close ", err)
		w.closed.Store(true)
	}
	if st := w.m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
		w.e.failf("after Close with every pin released: writer Stats %+v, want nothing mapped or held", st)
	}
	if w.ro != nil {
		if st := w.ro.Stats(); st.Mapped != 0 || st.Pinned != 0 {
			w.e.failf("after Close with every pin released: follower Stats %+v, want nothing mapped or held", st)
		}
	}
	if err := w.m.Close(); !errors.Is(err, chunkmap.ErrClosed) {
		w.e.failf("second Close: %v, want ErrClosed", err)
	} else {
		w.e.check("second Close", "close ", err, chunkmap.ErrClosed)
	}
	for _, o := range w.owners {
		o.applyEvents(w.ev.started.Load())
	}
	m, err := chunkmap.Open(w.e.dir, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer m.Close()
	w.readback("after reopen", m)
}
