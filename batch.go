package chunkmap

// This file holds Batch: many accesses under one fault guard, handing out
// the mapped bytes of the chunks the batch holds.

import (
	"errors"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Batch is a scope, opened by [Manager.Batch], in which any number of
// accesses share one fault guard. Its accessors return mapped bytes
// directly, and are small enough to be inlined into the caller's loop: an
// access within the chunks around the one the batch last reached for the
// first time (those it holds side by side in the arena) costs a bounds
// check, two loads and a compare more than the same access to one flat
// mapping; one to another chunk it holds costs a call, and the first
// access to a chunk a lookup and a hold. On a ReadOnly Manager that follows
// a writer, each call follows the writer first, through the call.
//
// A Batch holds every chunk it touches, from the first touch until its
// function returns (or panics): those chunks are not unmapped meanwhile, so
// the bytes a Batch hands out stay valid memory until then, and they count
// toward the chunks mapped beyond MaxMapped only while held. Each call sees
// the dataset as it is at that moment: after a concurrent Truncate, DropBefore
// or Close, or a failed Sync, the next call checks the range, Size and the
// Manager again, and a chunk deleted and created again is reached anew. Bytes
// handed out before a chunk was deleted still point at the deleted chunk;
// stores through them are discarded with it, as if they had come before the
// deletion. Keep batches short.
//
// A Batch must not be used after its function returns, nor by more than
// one goroutine at a time. A call that comes after the return (ordered
// after it, as by a channel or a WaitGroup) returns ErrClosed; a call from
// another goroutine that races with the return is a data race, and bytes
// it is handed may be unmapped as it reads them. A copy of a Batch acts
// for the Batch it was copied from, through the call, and ends with it.
type Batch struct {
	// The fast paths' windows: Bytes hands out [lo, lo+n), mapped at p,
	// and WritableBytes [wlo, wlo+wn), mapped at wp, without a call. Each
	// lies in chunks the batch holds (writable, for the second, and
	// allocated on disk) side by side in the arena, and within [Start,
	// Size) as of when Manager.shrinks was epoch. n and wn are 0 in a zero
	// or ended Batch, which sends every call to the slow path. lim (wlim)
	// is n-7 (wn-7), or 0 if n (wn) is less than 8: a value of at most 8
	// bytes at lo+o lies in the window if o < lim, one compare where a
	// length that varies takes two (see batchwin).
	//
	// These fields, up to shift, are batchwin.Head's, in its order
	// (batchhead.go checks it): package accessor reads them through one.
	lo, wlo   int64
	n, wn     uint64
	lim, wlim uint64
	p, wp     unsafe.Pointer
	epoch     uint64
	// shrinks is &m.shrinks as a plain word (an atomic.Uint64 is its
	// word), loaded with atomic.LoadUint64, which costs the inliner less
	// than the method.
	shrinks *uint64
	// st is the batch's state, taken from batchStates for the length of
	// the function; once the batch ends it is &endedState, whose empty
	// cache sends every call to the slow path, which reports ErrClosed.
	// So a Batch used after its function returned never reaches a state
	// that another Batch has since taken.
	st    *batchState
	shift uint
	// self is the Batch itself: a copy (whose self is the original)
	// misses the fast paths, and its slow path acts for the original, so
	// that it sees the original end.
	self *Batch

	m   *Manager
	dir string // m's directory, which errors name after the batch ended
}

// batchState is what a Batch keeps while it runs. It is pooled: opening a
// batch allocates only the small Batch handle.
type batchState struct {
	// Behind the windows: a direct-mapped cache of the chunks the batch
	// has reached, by chunk index mod len(runs). Each entry holds the
	// bytes [lo, lo+n) of one held chunk within [Start, Size) as of when
	// it was filled; wn is n if the chunk is held writable and allocated,
	// else 0. It is the first field: package accessor reads it through
	// batchwin.Head.Runs.
	runs      [batchRuns]batchRun
	deletions uint64 // Manager.deletions when views were last valid

	held   []batchChunk // the chunks held, in the order first touched
	inline [4]batchChunk
	// index maps chunks to their positions in held once held is longer
	// than batchIndexFrom; it is kept, emptied, for the next batch.
	index  heldIndex
	views  map[[2]int64]*viewHold
	wviews map[[2]int64]*viewHold
	// retired holds views taken out of views and wviews when the chunks
	// they map may have been deleted: not handed out again, but kept
	// mapped until the batch ends, since bytes they handed out may still
	// be in use.
	retired []*viewHold
}

// batchStates recycles batchStates (2 KiB each), whose allocation and
// clearing once cost as much as a few hundred cached accesses.
var batchStates = sync.Pool{New: func() any { return new(batchState) }}

// endedState is the state of every ended Batch. It is never written.
var endedState batchState

// batchRuns is the size of a Batch's cache of chunks: enough that a batch
// over a few dozen chunks (2 GiB of 64 MiB chunks, say) finds each in one
// load, small enough that a state stays small (2 KiB).
const batchRuns = 64

// maxRun bounds a cached run's length (a chunk's: at most 2 GiB, 1 GiB on
// 32-bit platforms), so that the fast paths slice an array pointer, which
// costs one check of n.
const maxRun = min(MaxChunkSize, math.MaxInt>>1+1)

// batchRun is one entry of a Batch's cache: the n bytes from offset lo,
// mapped at p.
type batchRun struct {
	lo int64
	n  uint64
	wn uint64 // n if the bytes may be stored to, else 0
	p  unsafe.Pointer
}

// lim is how many bytes of r may be read, or with write stored to.
func (r batchRun) lim(write bool) uint64 {
	if write {
		return r.wn
	}
	return r.n
}

// batchChunk is a chunk a Batch holds in its arena slot.
type batchChunk struct {
	idx   int64
	s     *slot
	write bool // also held writable
}

// batchIndexFrom is how many held chunks a Batch searches linearly before
// it keeps an index.
const batchIndexFrom = 16

// batchHeldKeep is the most held entries a pooled state keeps room for.
const batchHeldKeep = 1024

// find returns the batch's hold of chunk idx, or nil. The cache of runs
// answers most lookups before this is needed.
func (st *batchState) find(idx int64) *batchChunk {
	if len(st.held) > batchIndexFrom {
		if i := st.index.get(idx); i >= 0 {
			return &st.held[i]
		}
		return nil
	}
	for i := range st.held {
		if st.held[i].idx == idx {
			return &st.held[i]
		}
	}
	return nil
}

// add records a hold of chunk idx's slot s, and returns it.
func (st *batchState) add(idx int64, s *slot) *batchChunk {
	if st.held == nil {
		st.held = st.inline[:0]
	}
	st.held = append(st.held, batchChunk{idx: idx, s: s})
	switch n := len(st.held); {
	case n > batchIndexFrom+1:
		st.index.put(idx, n-1)
	case n == batchIndexFrom+1:
		for i, h := range st.held {
			st.index.put(h.idx, i)
		}
	}
	return &st.held[len(st.held)-1]
}

// heldIndex is a hash table from chunk indexes to positions in a batch's
// held list, with open addressing and linear probing: a few loads per
// lookup where a map costs a hash call and a group scan, at every first
// touch of a chunk by a batch holding many.
type heldIndex struct {
	keys []int64 // chunk index + 1; 0 marks an empty entry
	pos  []int32
	n    int
}

// get returns the position of chunk idx, or -1.
func (t *heldIndex) get(idx int64) int {
	if t.n == 0 {
		return -1
	}
	mask := uint64(len(t.keys) - 1)
	for i := heldHash(idx) & mask; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case idx + 1:
			return int(t.pos[i])
		case 0:
			return -1
		}
	}
}

// put records that chunk idx, not yet in t, is at position p.
func (t *heldIndex) put(idx int64, p int) {
	if 2*(t.n+1) > len(t.keys) {
		old, oldPos := t.keys, t.pos
		size := max(64, 2*len(old))
		t.keys, t.pos, t.n = make([]int64, size), make([]int32, size), 0
		for i, k := range old {
			if k != 0 {
				t.put(k-1, int(oldPos[i]))
			}
		}
	}
	mask := uint64(len(t.keys) - 1)
	i := heldHash(idx) & mask
	for t.keys[i] != 0 {
		i = (i + 1) & mask
	}
	t.keys[i], t.pos[i] = idx+1, int32(p)
	t.n++
}

// reset empties t, which holds the chunks of held, keeping its room
// unless it grew past what a pooled state keeps.
func (t *heldIndex) reset(held []batchChunk) {
	switch {
	case t.n == 0:
	case len(t.keys) > 2*batchHeldKeep:
		*t = heldIndex{}
	case 4*t.n < len(t.keys):
		// Few entries: clear just theirs.
		mask := uint64(len(t.keys) - 1)
		for _, c := range held {
			for i := heldHash(c.idx) & mask; t.keys[i] != 0; i = (i + 1) & mask {
				t.keys[i] = 0
			}
		}
	default:
		clear(t.keys)
	}
	t.n = 0
}

// heldHash spreads chunk indexes, which are often consecutive, over the
// table (Fibonacci hashing: the top bits of a product with 2^64/φ).
func heldHash(idx int64) uint64 {
	return (uint64(idx) * 0x9e3779b97f4a7c15) >> 32
}

// revalidate drops what the batch cached that m's counters say may be
// stale: the windows and runs if the dataset shrank (or anything else
// moved shrinks), and the views (which it retires, see retired) only if
// chunk files may have been deleted, so that a chunk deleted and created
// again is reached anew. It reports whether the batch may cache what it
// reads from here on: not while a change of Size or Start is under way.
func (b *Batch) revalidate() (cache bool) {
	m, st := b.m, b.st
	if e := m.shrinks.Load(); e != b.epoch {
		clear(st.runs[:])
		b.setWindow(false, 0, 0, nil)
		b.setWindow(true, 0, 0, nil)
		b.epoch = e
	}
	cache = m.shrinking.Load() == 0
	if d := m.deletions.Load(); d != st.deletions {
		for _, views := range []map[[2]int64]*viewHold{st.views, st.wviews} {
			for _, vh := range views {
				st.retired = append(st.retired, vh)
			}
			clear(views)
		}
		st.deletions = d
	}
	return cache
}

// reset empties st for the next batch, clearing only the cache entries
// the batch filled (each is the entry of a chunk it held).
func (st *batchState) reset() {
	if len(st.held) >= batchRuns {
		clear(st.runs[:])
	} else {
		for _, c := range st.held {
			st.runs[uint64(c.idx)%batchRuns] = batchRun{}
		}
	}
	st.deletions = 0
	st.index.reset(st.held)
	clear(st.held)
	if cap(st.held) > batchHeldKeep {
		st.held = nil
	}
	st.held = st.held[:0]
	clear(st.views)
	clear(st.wviews)
	clear(st.retired)
	st.retired = st.retired[:0]
}

// Batch calls fn with a Batch and returns fn's error. A fault on mapped
// memory inside fn at bytes the batch handed out (a chunk file truncated by
// another process, an I/O error) ends fn at once and Batch returns an error
// matching ErrFault; stores fn made before the fault stay made. If fn
// panics, the batch releases what it holds and the panic goes on; so does a
// fault at memory that is not the batch's (the program's own, or a Pin's
// bytes), as the runtime.Error that reports it, which outside a Batch would
// end the program: fn runs with [runtime/debug.SetPanicOnFault] on for its
// goroutine, the batch's guard, and Batch gives the caller's setting back
// when it returns. fn may call any method of the Manager, Close included
// (see [Manager.Close]).
func (m *Manager) Batch(fn func(b *Batch) error) error {
	// A closed Manager first, as for every other call: ErrClosed is the
	// answer to any call after Close, whatever its arguments.
	if !m.live.Load() {
		return m.errorf("batch", whole, ErrClosed, "")
	}
	if fn == nil {
		return m.errorf("batch", whole, ErrInvalidOptions, "nil function")
	}
	m.batches.Add(1)
	b := &Batch{m: m, dir: m.dir, shift: m.shift, st: batchStates.Get().(*batchState), shrinks: (*uint64)(unsafe.Pointer(&m.shrinks)), epoch: m.shrinks.Load()}
	b.self = b
	defer m.batches.Add(-1)
	defer b.end()
	return runBatch(b, fn)
}

// runBatch runs fn under the fault guard: it returns fn's error, or the
// batch's ErrFault if fn faulted at bytes the batch handed out.
//
// In a program run with GODEBUG=panicnil=1, fn's panic(nil) recovers as
// nil, as a runtime.Goexit does, but unlike a Goexit it stops at the guard
// that recovered it, which would then return as if fn had returned nil. It
// is told apart as a stop with fn not returned and no fault recorded, and
// goes on (a Goexit never gets that far).
func runBatch(b *Batch, fn func(*Batch) error) (err error) {
	returned := false
	func() {
		defer catchBatchFault(debug.SetPanicOnFault(true), b, &err)
		err = fn(b)
		returned = true
	}()
	if !returned && err == nil {
		panic(nil)
	}
	return err
}

// catchBatchFault is catchFault for runBatch. A fault at the batch's bytes
// becomes *err; one elsewhere is not the dataset's fault, and goes on as
// the runtime's panic, raised again here, while the frames of the code
// that faulted are still on the stack for the report of a panic that no
// one recovers.
func catchBatchFault(prev bool, b *Batch, err *error) {
	debug.SetPanicOnFault(prev)
	if r := recover(); r != nil {
		addr, ok := memFault(r)
		if !ok {
			panic(r)
		}
		if *err = b.faultErr(fault{addr: addr, hit: true}); *err == nil {
			panic(r)
		}
	}
}

// end releases everything the batch holds and makes it unusable.
func (b *Batch) end() {
	m, st := b.m, b.st
	b.m, b.st = nil, &endedState
	b.setWindow(false, 0, 0, nil)
	b.setWindow(true, 0, 0, nil)
	for _, c := range st.held {
		if c.write {
			m.unholdWritable(c.idx, c.s)
		} else {
			m.unholdSlot(c.s)
		}
	}
	if len(st.views)+len(st.wviews)+len(st.retired) > 0 {
		m.mu.Lock()
		for _, vh := range st.views {
			m.releaseViewLocked(vh)
		}
		for _, vh := range st.wviews {
			m.releaseViewLocked(vh)
		}
		for _, vh := range st.retired {
			m.releaseViewLocked(vh)
		}
		m.mu.Unlock()
	}
	st.reset()
	batchStates.Put(st)
}

// faultErr is the error of a fault in the batch's function, naming the
// chunk file it hit and the offset of the byte, if the address lies in a
// chunk the batch holds (in its arena slot or in a view): the only bytes it
// hands out. Otherwise it returns nil.
func (b *Batch) faultErr(f fault) error {
	m := b.m
	at := func(idx int64, o uintptr) error {
		return placed(place("batch", atOff(idx<<m.shift+int64(o))), "%w: chunk file %s (truncated or removed by another process, or an I/O error)",
			ErrFault, m.chunkPath(idx))
	}
	for _, c := range b.st.held {
		base := uintptr(m.slotAddr(int64(m.slotNum(c.idx))))
		if f.addr-base < uintptr(m.chunkSize) {
			return at(c.idx, f.addr-base)
		}
	}
	views := slices.Concat(b.st.retired, slices.Collect(maps.Values(b.st.views)), slices.Collect(maps.Values(b.st.wviews)))
	for _, vh := range views {
		p := vh.v.Bytes()
		if len(p) == 0 {
			continue
		}
		if o := f.addr - uintptr(unsafe.Pointer(unsafe.SliceData(p))); o < uintptr(len(p)) {
			o64 := int64(o) + vh.lo // a span view starts at byte lo of its first chunk
			return at(vh.first+o64>>m.shift, uintptr(o64&m.mask))
		}
	}
	return nil
}

// Bytes returns the n bytes at offset off for reading, straight from the
// mapping. They are valid until the Batch's function returns and must not
// be stored to. [off, off+n) must lie within [Start, Size); it may cross
// chunk boundaries, and the bytes are contiguous. Otherwise Bytes returns
// ErrOutOfRange.
func (b *Batch) Bytes(off int64, n int) (p []byte, err error) {
	// Small enough to be inlined into the caller's loop (see batchBytes);
	// the named results cost the inliner less than returning a call.
	p, err = batchBytes(b, off, n, (*Batch).slowRead)
	return
}

// WritableBytes is Bytes for storing: the caller may write the n bytes
// returned, and a Sync that starts after the store makes it durable. A
// Batch does not extend the dataset: [off, off+n) must already lie within
// [Start, Size). On a ReadOnly Manager it returns ErrReadOnly.
func (b *Batch) WritableBytes(off int64, n int) (p []byte, err error) {
	p, err = batchWritableBytes(b, off, n, (*Batch).slowWrite)
	return
}

// batchBytes is Bytes: the window's bytes if [off, off+n) lies in it and
// nothing shrank the dataset since it was set, else slow's answer. slow is
// a parameter because the inliner charges a call of a parameter far less
// than a call of a function (17 against 57): that keeps Bytes within its
// budget of 80. Once inlined, the call goes through the static function
// value of slowRead, on the slow path only.
func batchBytes(b *Batch, off int64, n int, slow func(*Batch, int64, int) ([]byte, error)) (p []byte, err error) {
	// The n check first: a zero Batch has no shrinks to load.
	if o := uint64(off - b.lo); o < b.n && uint64(n) <= b.n-o && atomic.LoadUint64(b.shrinks) == b.epoch && b.self == b {
		return unsafe.Slice((*byte)(unsafe.Add(b.p, o)), n), nil
	}
	p, err = slow(b, off, n)
	return
}

// batchWritableBytes is batchBytes for WritableBytes.
func batchWritableBytes(b *Batch, off int64, n int, slow func(*Batch, int64, int) ([]byte, error)) (p []byte, err error) {
	if o := uint64(off - b.wlo); o < b.wn && uint64(n) <= b.wn-o && atomic.LoadUint64(b.shrinks) == b.epoch && b.self == b {
		return unsafe.Slice((*byte)(unsafe.Add(b.wp, o)), n), nil
	}
	p, err = slow(b, off, n)
	return
}

// Hold holds the chunks of [off, off+n) for reading for the rest of the
// batch, as a first access to each of them would, and points the fast
// path of Bytes at them: a batch that goes on to read at random across
// many of these chunks then finds each in one inlined check, where
// otherwise each access that leaves the chunks around the one it last
// reached for the first time costs a call. Chunks that lie side by side in
// the arena are held in one pass, at about half the cost of first touches.
// Batches of 256 random reads over 32 chunks of 64 MiB not in the CPU's
// caches ran 1.56× faster with their range held first, and such writes
// 1.58×, to within 1.03× of a floor that holds each chunk with one atomic
// add (see docs/performance.md); a batch that stays within a chunk or two
// gains nothing. The fast path spans the chunks that lie side
// by side in the arena: a range that crosses the end of the arena's
// reservation (see Options.ArenaSize), or chunks whose slots other held
// chunks occupy, are held all the same, and reached through the call.
//
// Every chunk of the range stays mapped until the function returns, beyond
// MaxMapped if need be: hold only what the batch will use, as far as the
// memory it maps can be spared. The range follows Bytes' rules, but n is
// an int64; with n 0, Hold holds the chunk of off, as Bytes(off, 0) does.
// If Hold returns an error, which names the whole range, it may have held
// some chunks of the range already, which the batch lets go of as it ends.
// On a ReadOnly Manager that follows a writer, whose batches follow it on
// every call (and so have no fast path), Hold only holds.
func (b *Batch) Hold(off, n int64) error { return b.holdRange("batch hold", off, n, false) }

// HoldWritable is Hold for storing: the chunks of [off, off+n) are held
// writable and allocated on disk as WritableBytes would hold them (so that
// a full disk is this call's error), and the fast path of WritableBytes
// points at them. On a ReadOnly Manager it returns ErrReadOnly.
func (b *Batch) HoldWritable(off, n int64) error {
	return b.holdRange("batch hold writable", off, n, true)
}

// holdRange is Hold (HoldWritable, with write). Where the range's chunks
// lie side by side in the arena, one call of slowSpan holds them all, sets
// their runs and points the window at them: a check of the Manager, of the
// range, of deletions and one widen for the range, instead of one for each
// chunk. Where they do not (a range longer than the arena, across its end,
// longer than an int, or a chunk whose slot another holds), slowSpan maps
// no view (it would map the whole range a second time, in private) but
// returns errParts, and the range is held a part per chunk, in order, so
// that each part's window joins the last one's (see widen). The parts are
// at most maxRun bytes, which an int holds.
func (b *Batch) holdRange(op string, off, n int64, write bool) error {
	s := b
	if b.self != nil {
		s = b.self // itself, or the original of a copy
	}
	m := s.m
	if m == nil {
		return s.closedErr(op, at(off, n))
	}
	// In the order of slow's checks (and Pin's): the Manager's state
	// before the range.
	switch {
	case !m.live.Load():
		return m.errorf(op, at(off, n), ErrClosed, "")
	case write && m.opts.ReadOnly:
		return m.errorf(op, at(off, n), ErrReadOnly, "")
	case n < 0 || off < 0 || n > maxOffset-off:
		return m.errorf(op, at(off, n), ErrOutOfRange, m.rangeDetail(off, n))
	}
	where := at(off, n) // errors name the whole range
	if n <= math.MaxInt {
		if _, err := s.slowSpan(op, where, off, int(n), write, true); err != errParts {
			return err
		}
	}
	for o, left := off, n; ; {
		k := min(left, m.chunkSize-o&m.mask, maxRun)
		if _, err := s.slow(op, where, o, int(k), write); err != nil {
			return err
		}
		if o == off {
			// The first part passed the checks of the Manager's state
			// (and a follower followed its writer): the rest of the
			// range is checked as a whole before more is held.
			if d := m.rangeDetail(off, n); d != "" {
				return m.errorf(op, where, ErrOutOfRange, d)
			}
		}
		if o, left = o+k, left-k; left == 0 {
			return nil
		}
	}
}

func (b *Batch) slowRead(off int64, n int) ([]byte, error)  { return b.outside(off, n, false) }
func (b *Batch) slowWrite(off int64, n int) ([]byte, error) { return b.outside(off, n, true) }

// outside is Bytes (WritableBytes, with write) outside the window: the
// runs answer for chunks the batch holds elsewhere, the slow path for the
// rest.
func (b *Batch) outside(off int64, n int, write bool) ([]byte, error) {
	if b.m != nil && b.self == b && b.m.shrinks.Load() == b.epoch {
		r := &b.st.runs[uint64(off>>(b.shift&63))%batchRuns]
		if lim, o := r.lim(write), uint64(off-r.lo); o < lim && uint64(n) <= lim-o {
			return (*[maxRun]byte)(unsafe.Add(r.p, o))[:n:n], nil
		}
	}
	op := "batch read"
	if write {
		op = "batch write"
	}
	return b.slow(op, at(off, int64(n)), off, n, write)
}

// slow checks the range, holds its chunks if the batch does not yet, and
// returns its bytes, pointing the fast path at them. Its errors name op on
// where: the n bytes at off themselves, or the range of a Hold that they
// are a part of.
func (b *Batch) slow(op string, where span, off int64, n int, write bool) ([]byte, error) {
	return b.slowSpan(op, where, off, n, write, false)
}

// errParts is slowSpan's answer, with noView, for a range whose chunks it
// cannot hold side by side in the arena. It never leaves the package.
var errParts = errors.New("chunkmap: the range is not side by side in the arena")

// slowSpan is slow; with noView, where the range's chunks are not held side
// by side in the arena, it returns errParts instead of mapping them in a
// view, having held those it could.
func (b *Batch) slowSpan(op string, where span, off int64, n int, write, noView bool) ([]byte, error) {
	if b.self != nil {
		b = b.self // itself, or the original of a copy
	}
	m := b.m
	if m == nil {
		return nil, b.closedErr(op, where)
	}
	st := b.st
	// The epoch is loaded before the checks below (closed, failed, the
	// range): what is cached must be valid in an epoch that had begun
	// before they passed, so caching needs it unchanged at the end too.
	cache := b.revalidate()
	epoch := b.epoch
	if write {
		if err := m.checkWrite(op, where); err != nil { // names a negative n as given
			return nil, err
		}
	} else if !m.live.Load() {
		return nil, m.errorf(op, where, ErrClosed, "")
	}
	if err := m.follow(op, where); err != nil {
		return nil, err
	}
	// A writer followed may have deleted chunks.
	cache = b.revalidate() && cache && b.epoch == epoch
	if d := m.rangeDetail(off, int64(n)); d != "" {
		return nil, m.errorf(op, where, ErrOutOfRange, d)
	}
	first := off >> m.shift
	last := first
	if n > 0 {
		last = (off + int64(n) - 1) >> m.shift
	}
	arenaOK := first == last || (m.contiguous && last-first < int64(len(m.slots)) && m.slotNum(first) <= m.slotNum(last))
	if arenaOK {
		for idx := first; idx <= last; idx++ {
			ok, err := b.hold(idx, write, op, off, n)
			if err != nil {
				return nil, m.wrapErr(op, where, err)
			}
			arenaOK = arenaOK && ok
		}
	}
	if batchHeldHook != nil {
		batchHeldHook()
	}
	if !arenaOK && noView {
		return nil, errParts
	}
	var size int64
	if write {
		// Stores through the returned bytes and the runs cached below
		// (each chunk's part within Size) cannot be refused: they must
		// be allocated on disk first, so that a full disk is this
		// call's error. Chunks held in their slots usually are already,
		// which their slots tell without the lock; otherwise allocate
		// them. A Truncate may have deleted the chunks since the range
		// was checked: that is ErrOutOfRange, as for the range check.
		size = m.state().size.Load()
		if !arenaOK || !b.allocated(first, last, off, n, size) {
			m.mu.Lock()
			size = m.state().size.Load()
			err := m.checkChunksLocked(off, n)
			for idx := first; idx <= last && err == nil; idx++ {
				err = m.allocLocked(idx, min(m.chunkSize, size-idx<<m.shift))
			}
			m.mu.Unlock()
			if err != nil {
				return nil, m.wrapErr(op, where, err)
			}
		}
		if batchAllocHook != nil {
			batchAllocHook()
		}
	}
	if arenaOK && b.deletedSince(first, last) {
		// A Truncate or DropBefore deleted a chunk after the batch took
		// it: its slot maps the removed file, which the bytes returned
		// must not reach (stores there would be lost, reads would see
		// what the chunk held before, and pages the file never had
		// fault on a full disk). Once more: hold finds the slot doomed
		// and the chunk as it is now goes into a view.
		return b.slowSpan(op, where, off, n, write, noView)
	}
	var p []byte
	if !arenaOK {
		v, err := b.view(first, last, write, op, off, n)
		if err != nil {
			return nil, m.wrapErr(op, where, err)
		}
		p = v
	}
	if d := m.rangeDetail(off, int64(n)); d != "" {
		// Checked again now that the chunks are held: a Truncate since
		// the check above may have made a chunk anew short of the range
		// (see slots.go).
		return nil, m.errorf(op, where, ErrOutOfRange, d)
	}
	if !arenaOK {
		return p, nil
	}
	p = m.slotBytes(int64(m.slotNum(first)), off&m.mask, int(int64(n)))
	if m.follows.Load() || !cache {
		// A follower's shrinks moves only when it follows the writer:
		// each of its calls must follow (above), so none is cached. Nor
		// is anything read while Size or Start changes.
		return p, nil
	}
	// Point the runs and a window at the held chunks, within [Start,
	// Size). They end at the Size the allocation above covered (a later,
	// larger Size is not allocated for them), and only a call that
	// allocated makes them writable.
	start := m.state().start.Load()
	if !write {
		size = m.state().size.Load()
	}
	for idx := first; idx <= last; idx++ {
		// chunkOffset: (idx+1)<<shift overflows for the top chunk.
		lo, hi := max(idx<<m.shift, start), min(chunkOffset(idx+1, m.shift), size)
		if lo >= hi {
			continue
		}
		r := batchRun{lo: lo, n: uint64(hi - lo), p: unsafe.Add(m.slotAddr(int64(m.slotNum(idx))), lo&m.mask)}
		if write {
			r.wn = r.n
		}
		st.runs[uint64(idx)%batchRuns] = r
	}
	b.widen(first, last, false)
	if write {
		b.widen(first, last, true)
	}
	return p, nil
}

// closedErr is the error of op on where through b, which is a zero or an
// ended Batch (b.m is nil).
func (b *Batch) closedErr(op string, where span) error {
	if b.st == nil {
		return placed(place(op, where), "%w: a zero Batch (use the one Manager.Batch passes to its function)", ErrClosed)
	}
	return placed(place(op, where)+" in "+b.dir, "%w: the Batch was used after its function returned", ErrClosed)
}

// writeHoldHook, if set, runs where Pin's lock-free path and a Batch's
// hold count a writable hold, after their checks that the Manager is open:
// a test's way to begin a Close in between. Set only by tests, before the
// calls it is to act in.
var writeHoldHook func()

// batchHeldHook, if set, runs in slow between the holds and the checks
// after them: tests set it (export_test.go) to delete chunks in that
// window, which otherwise only a concurrent Truncate reaches.
var batchHeldHook func()

// batchAllocHook, if set, runs in slow once a write's chunks are allocated
// (or found allocated), before a view maps them: tests set it
// (export_test.go) to replace the chunks in that window, which otherwise
// only a concurrent Truncate reaches.
var batchAllocHook func()

// deletedSince reports whether one of chunks [first, last], which the batch
// holds in their slots, was deleted (or its slot emptied by Close) since
// the batch took it. It is checked after everything else slow does, the
// allocation included: a deletion after it orders before nothing slow
// returned, as a store racing a Truncate.
func (b *Batch) deletedSince(first, last int64) bool {
	for idx := first; idx <= last; idx++ {
		if c := b.st.find(idx); c != nil && c.s.doomed.Load() {
			return true
		}
	}
	return false
}

// allocated reports whether chunks [first, last], which the batch holds in
// their slots, are allocated on disk as far as the allocation for stores
// below Size (size, which covers [off, off+n)) reaches: what the locked
// path in slow would otherwise allocate. A held slot's alloc is its own
// chunk's (its owner cannot change while held), and it only grows.
func (b *Batch) allocated(first, last, off int64, n int, size int64) bool {
	m := b.m
	if off+int64(n) > size {
		return false
	}
	for idx := first; idx <= last; idx++ {
		if m.slot(idx).alloc.Load() < min(m.chunkSize, size-idx<<m.shift) {
			return false
		}
	}
	return true
}

// widenGap is the most chunks a window reaches out on each side of the
// chunks a call touched: it bounds the work of a call that sets a window.
const widenGap = 32

// widen points a window of the fast path (the writable one, with write) at
// chunks [first, last], whose runs the caller has just set, and at the
// chunks next to them, side by side in the arena, whose runs (writable
// ones, with write) join them: a batch of random accesses over a few dozen
// chunks finds most of them in its window, without a call, once it has
// touched them. A run exists only for a chunk the batch holds and, while
// the epoch stands, was not deleted; a writable one ends where its chunk is
// allocated. So the window's bytes are the union of its chunks' runs, and
// the batch holds no chunk for it that it did not touch.
func (b *Batch) widen(first, last int64, write bool) {
	m := b.m
	lo, _, okf := b.span(first, write)
	_, hi, okl := b.span(last, write)
	// p is where the window's first byte, lo, is mapped.
	p := b.st.runs[uint64(first)%batchRuns].p
	f, l := first, last
	if okf && okl && m.contiguous {
		// The window in place joins the new runs if it ends where they
		// begin or begins where they end: adopt it, so that a batch that
		// walks through chunks extends its window in one step.
		wlo, wn, wp := b.lo, b.n, b.p
		if write {
			wlo, wn, wp = b.wlo, b.wn, b.wp
		}
		if wn > 0 {
			whi := wlo + int64(wn)
			wf, wl := wlo>>b.shift, (whi-1)>>b.shift
			switch {
			case whi == lo && lo == first<<b.shift && m.slotNum(first) > 0 && last-wf < int64(len(m.slots)):
				f, lo, p = wf, wlo, wp
			case hi == wlo && wlo == chunkOffset(last+1, b.shift) && m.slotNum(wf) > 0 && wl-first < int64(len(m.slots)):
				l, hi = wl, whi
			}
		}
		// Each step loads one entry: the neighbour's run must exist and
		// meet the window's edge, which must be a chunk boundary.
		fl, ll := max(0, f-widenGap), l+widenGap
		for f > fl && m.slotNum(f) > 0 && l-(f-1) < int64(len(m.slots)) && lo == f<<b.shift {
			plo, pend, ok := b.span(f-1, write)
			if !ok || pend != lo {
				break
			}
			f, lo, p = f-1, plo, b.st.runs[uint64(f-1)%batchRuns].p
		}
		for l < ll && m.slotNum(l+1) > 0 && l+1-f < int64(len(m.slots)) && hi == chunkOffset(l+1, b.shift) {
			nlo, nend, ok := b.span(l+1, write)
			if !ok || nlo != hi {
				break
			}
			l, hi = l+1, nend
		}
	}
	var n uint64
	if !okf || !okl || lo >= hi {
		p = nil
	} else {
		n = uint64(hi - lo)
	}
	b.setWindow(write, lo, n, p)
}

// setWindow points the fast path's window (the writable one, with write)
// at the n bytes from offset lo, mapped at p.
func (b *Batch) setWindow(write bool, lo int64, n uint64, p unsafe.Pointer) {
	var lim uint64
	if n >= 8 {
		lim = n - 7
	}
	if write {
		b.wlo, b.wn, b.wlim, b.wp = lo, n, lim, p
	} else {
		b.lo, b.n, b.lim, b.p = lo, n, lim, p
	}
}

// span returns the bytes [lo, end) of the batch's run of chunk idx
// (writable, with write), and false if it has none: the entry of its cache
// may hold another chunk's.
func (b *Batch) span(idx int64, write bool) (lo, end int64, ok bool) {
	r := &b.st.runs[uint64(idx)%batchRuns]
	n := r.n
	if write {
		n = r.wn
	}
	if n == 0 || r.lo>>b.shift != idx {
		return 0, 0, false
	}
	return r.lo, r.lo + int64(n), true
}

// hold holds chunk idx in its arena slot for the rest of the batch (and
// writable, with write), unless it already is; false means the slot is held
// by another chunk, and the caller must use a view. The chunk is one of
// those of op on the n bytes at off.
func (b *Batch) hold(idx int64, write bool, op string, off int64, n int) (bool, error) {
	m, st := b.m, b.st
	c := st.find(idx)
	if c != nil && c.s.doomed.Load() {
		// Deleted since the batch took it (and perhaps created again):
		// the caller maps what the chunk is now in a view.
		return false, nil
	}
	if c == nil {
		s, ok := m.holdFast(idx)
		if !ok {
			m.mu.Lock()
			err := m.checkChunksLocked(off, n)
			var mp *mapping
			if err == nil {
				mp, err = m.holdLocked(idx, false, op)
			}
			m.mu.Unlock()
			if err != nil || mp == nil {
				return false, err
			}
			s = mp.s
		}
		c = st.add(idx, s)
	}
	if write && !c.write {
		if writeHoldHook != nil {
			writeHoldHook()
		}
		c.write = true
		c.s.wholds.Add(1)
		if !m.live.Load() {
			// A Close that began after this call's check may have
			// looked for writable holds before this one was counted,
			// and marked the state page clean: stores through these
			// bytes would be synced by nobody (writableHeldLocked).
			// Close stores live before it looks, so one of the two
			// sees the other.
			c.s.wholds.Add(-1)
			c.write = false
			return false, ErrClosed
		}
		// A chunk whose dirty flag is set is queued for Sync, and a Sync
		// that takes the flag after the writable hold was counted queues
		// the chunk again (sync.go): only a clean chunk needs marking,
		// which takes mu.
		if !c.s.isDirty() {
			m.markDirtyIndex(idx, c.s)
		}
	}
	return true, nil
}

// view returns the n bytes at off, of op, from the chunks [first, last]
// side by side in a private view that the batch holds until it ends,
// mapping it if it has none. Where a view of the chunks whole would take
// more than maxWholeView bytes it maps only the pages of [off, off+n) (see
// spanView); such a view that does not cover the bytes asked for is
// retired, and the chunks mapped again for them, over more pages where the
// bytes lie near it (see grownSpan).
func (b *Batch) view(first, last int64, write bool, op string, off int64, n int) ([]byte, error) {
	m := b.m
	key := [2]int64{first, last}
	views := &b.st.views
	if write {
		views = &b.st.wviews
	}
	bytesOf := func(vh *viewHold) ([]byte, bool) {
		v := vh.v.Bytes()
		o := off - first<<m.shift - vh.lo
		if o < 0 || o > int64(len(v)) || int64(n) > int64(len(v))-o {
			return nil, false
		}
		return v[o : o+int64(n) : o+int64(n)], true
	}
	var prev *viewHold // a span view of other pages, which the new one may grow
	if vh := (*views)[key]; vh != nil {
		if m.deletions.Load() == b.st.deletions {
			if p, ok := bytesOf(vh); ok {
				return p, nil
			}
			// A span view of other pages: the bytes it handed out stay
			// valid until the batch ends.
			b.st.retired = append(b.st.retired, vh)
			delete(*views, key)
			prev = vh
		} else {
			// Chunks were deleted during this call, after revalidate
			// looked: the view may map removed files. Retire the views
			// and map the chunks as they are now.
			b.revalidate()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkChunksLocked(off, n); err != nil {
		return nil, err
	}
	if write {
		// slow allocated the chunks under an earlier hold of mu: a
		// Truncate since may have made them anew, as holes, which the
		// view would map, and a store there would fault on a full disk.
		// Allocated under the mu that maps them, the files mapped are
		// the files allocated (an allocation already made costs a map
		// lookup).
		size := m.state().size.Load()
		for idx := first; idx <= last; idx++ {
			if err := m.allocLocked(idx, min(m.chunkSize, size-idx<<m.shift)); err != nil {
				return nil, err
			}
		}
	}
	lo, hi := int64(0), m.chunkSize
	if spanView && last-first+1 > maxWholeView>>m.shift {
		lo, hi = m.spanOf(off&m.mask, int64(n))
		if prev != nil {
			lo, hi = m.grownSpan(first, last, prev, lo, hi)
		}
	}
	vh, err := m.mapViewLocked(first, last-first+1, lo, hi, write, op)
	if err != nil {
		return nil, err
	}
	if *views == nil {
		*views = make(map[[2]int64]*viewHold)
	}
	(*views)[key] = vh
	p, _ := bytesOf(vh) // it covers them: spanOf's bounds
	return p, nil
}

// grownSpan returns the bounds of a Batch's span view of chunks [first,
// last] for the pages [lo, hi) (spanOf's bounds) that prev, the batch's
// span view of those chunks, does not cover. A batch keeps every view it
// handed bytes out of, so a view of just the pages of each call took a
// mapping per page from a batch that reads through a chunk, past the
// system's limit of mappings (65,530 on Linux) within 256 MiB. Where the
// pages lie within prev's length of it, the new view starts where prev
// ends (or ends where it starts), as far as the pages allow, and is twice
// prev's length, up to maxWholeView: a batch that walks a chunk maps a
// view per doubling, and each byte once or twice. Pages further off get a
// view of their own, as scattered accesses do, to which a larger view
// would only cost address space.
func (m *Manager) grownSpan(first, last int64, prev *viewHold, lo, hi int64) (int64, int64) {
	base, top := first<<m.shift, chunkOffset(last+1, m.shift)
	pa := base + prev.lo
	plen := int64(len(prev.v.Bytes()))
	pb := pa + plen
	ra, rb := base+lo, last<<m.shift+hi
	if ra > pb+plen || rb < pa-plen {
		return lo, hi
	}
	want := min(2*plen, maxWholeView)
	ua, ub := ra, rb
	if rb > pb {
		ua = min(ra, pb)
		ub = min(top, max(rb, ua+want))
	} else {
		ub = max(rb, pa)
		ua = max(base, min(ra, ub-want))
	}
	return ua - base, ub - last<<m.shift
}
