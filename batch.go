package chunkmap

// This file holds Batch: many accesses under one fault guard, handing out
// the mapped bytes of the chunks the batch holds.

import (
	"fmt"
	"runtime/debug"
	"unsafe"
)

// Batch is a scope, opened by [Manager.Batch], in which any number of
// accesses share one fault guard. Its accessors return mapped bytes
// directly, so a loop of typed reads over a Batch costs little more than
// the same loop over one flat mapping.
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
// A Batch must not be used after its function returns (its methods then
// return ErrClosed), nor by more than one goroutine at a time.
type Batch struct {
	m     *Manager
	shift uint
	// The fast path: a direct-mapped cache of the chunks the batch has
	// reached, by chunk index mod len(runs). Each entry holds the bytes
	// [lo, lo+len(run)) of one held chunk within [Start, Size) as of when
	// it was filled, and whether the chunk is held writable.
	runs  [batchRuns]batchRun
	epoch uint64 // Manager.shrinks when runs were last valid

	held   []batchChunk // the chunks held, in the order first touched
	inline [4]batchChunk
	index  map[int64]int // positions in held, once it is long
	views  map[[2]int64]*viewHold
	wviews map[[2]int64]*viewHold
}

// batchRuns is the size of a Batch's cache of chunks: enough that a batch
// over a few dozen chunks (2 GiB of 64 MiB chunks, say) finds each in one
// load, small enough that opening a batch stays cheap (2.5 KiB).
const batchRuns = 64

// batchRun is one entry of a Batch's cache.
type batchRun struct {
	lo    int64
	run   []byte
	write bool
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

// find returns the batch's hold of chunk idx, or nil. The cache of runs
// answers most lookups before this is needed.
func (b *Batch) find(idx int64) *batchChunk {
	if b.index != nil {
		if i, ok := b.index[idx]; ok {
			return &b.held[i]
		}
		return nil
	}
	for i := range b.held {
		if b.held[i].idx == idx {
			return &b.held[i]
		}
	}
	return nil
}

// Batch calls fn with a Batch and returns fn's error. A fault on mapped
// memory inside fn (a chunk file truncated by another process, an I/O error)
// ends fn at once and Batch returns an error matching ErrFault; stores fn
// made before the fault stay made. If fn panics, the batch releases what it
// holds and the panic goes on. fn may call any method of the Manager,
// Close included (see [Manager.Close]).
func (m *Manager) Batch(fn func(b *Batch) error) error {
	if fn == nil {
		return m.errorf("batch", whole, ErrInvalidOptions, "nil function")
	}
	if m.closed.Load() {
		return m.errorf("batch", whole, ErrClosed, "")
	}
	m.batches.Add(1)
	b := &Batch{m: m, shift: m.shift}
	defer m.batches.Add(-1)
	defer b.end()
	f, err := runBatch(b, fn)
	if f.hit {
		return b.faultErr(f)
	}
	return err
}

// runBatch runs fn under the fault guard.
func runBatch(b *Batch, fn func(*Batch) error) (f fault, err error) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return f, fn(b)
}

// end releases everything the batch holds and makes it unusable.
func (b *Batch) end() {
	m := b.m
	b.m = nil
	clear(b.runs[:])
	for _, c := range b.held {
		if c.write {
			m.unholdWritable(c.idx, c.s)
		} else {
			m.unholdSlot(c.s)
		}
	}
	if len(b.views)+len(b.wviews) > 0 {
		m.mu.Lock()
		for _, vh := range b.views {
			m.releaseViewLocked(vh)
		}
		for _, vh := range b.wviews {
			m.releaseViewLocked(vh)
		}
		m.mu.Unlock()
	}
}

// faultErr is the error of a fault in the batch's function, naming the
// chunk file it hit and the offset of the byte, if the address lies in a
// chunk the batch holds (in its arena slot or in a view).
func (b *Batch) faultErr(f fault) error {
	m := b.m
	at := func(idx int64, o uintptr) error {
		return &placedError{fmt.Errorf("batch at offset %d: %w: chunk file %s (truncated or removed by another process, or an I/O error)",
			idx<<m.shift+int64(o), ErrFault, m.chunkPath(idx))}
	}
	for _, c := range b.held {
		base := uintptr(m.slotAddr(int64(m.slotNum(c.idx))))
		if f.addr-base < uintptr(m.chunkSize) {
			return at(c.idx, f.addr-base)
		}
	}
	for _, views := range []map[[2]int64]*viewHold{b.views, b.wviews} {
		for _, vh := range views {
			p := vh.v.Bytes()
			if len(p) == 0 {
				continue
			}
			if o := f.addr - uintptr(unsafe.Pointer(unsafe.SliceData(p))); o < uintptr(len(p)) {
				return at(vh.first+int64(o>>m.shift), o&uintptr(m.mask))
			}
		}
	}
	return m.errorf("batch", whole, ErrFault, fmt.Sprintf("at address %#x, outside the chunks the batch holds", f.addr))
}

// Bytes returns the n bytes at offset off for reading, straight from the
// mapping. They are valid until the Batch's function returns and must not
// be stored to. [off, off+n) must lie within [Start, Size); it may cross
// chunk boundaries, and the bytes are contiguous. Otherwise Bytes returns
// ErrOutOfRange.
func (b *Batch) Bytes(off int64, n int) ([]byte, error) {
	r := &b.runs[uint64(off>>b.shift)%batchRuns]
	if o := uint64(off - r.lo); o < uint64(len(r.run)) && uint64(n) <= uint64(len(r.run))-o && b.m.shrinks.Load() == b.epoch {
		return r.run[o : o+uint64(n) : o+uint64(n)], nil
	}
	return b.slow(off, n, false)
}

// WritableBytes is Bytes for storing: the caller may write the n bytes
// returned, and a Sync that starts after the store makes it durable. A
// Batch does not extend the dataset: [off, off+n) must already lie within
// [Start, Size). On a ReadOnly Manager it returns ErrReadOnly.
func (b *Batch) WritableBytes(off int64, n int) ([]byte, error) {
	r := &b.runs[uint64(off>>b.shift)%batchRuns]
	if o := uint64(off - r.lo); r.write && o < uint64(len(r.run)) && uint64(n) <= uint64(len(r.run))-o && b.m.shrinks.Load() == b.epoch {
		return r.run[o : o+uint64(n) : o+uint64(n)], nil
	}
	return b.slow(off, n, true)
}

// slow checks the range, holds its chunks if the batch does not yet, and
// returns its bytes, pointing the fast path at them.
func (b *Batch) slow(off int64, n int, write bool) ([]byte, error) {
	m := b.m
	op := "batch read"
	if write {
		op = "batch write"
	}
	if m == nil {
		return nil, fmt.Errorf("%s: %w: the Batch was used after its function returned", place(op, at(off, int64(n))), ErrClosed)
	}
	if e := m.shrinks.Load(); e != b.epoch {
		// Something the cached runs relied on changed: check again.
		clear(b.runs[:])
		b.epoch = e
	}
	if write {
		if err := m.checkWrite(op, at(off, int64(max(n, 0)))); err != nil {
			return nil, err
		}
	} else if m.closed.Load() {
		return nil, m.errorf(op, at(off, int64(n)), ErrClosed, "")
	}
	if err := m.checkRange(op, off, n); err != nil {
		return nil, err
	}
	first := off >> m.shift
	last := first
	if n > 0 {
		last = (off + int64(n) - 1) >> m.shift
	}
	var size int64
	if write {
		// Stores through the returned bytes and the runs cached below
		// (each chunk's part within Size) cannot be refused: allocate
		// them on disk first, so a full disk is this call's error.
		size = m.state().size.Load()
		m.mu.Lock()
		var err error
		for idx := first; idx <= last && err == nil; idx++ {
			err = m.allocLocked(idx, min(m.chunkSize, size-idx<<m.shift))
		}
		m.mu.Unlock()
		if err != nil {
			return nil, m.wrapErr(op, at(off, int64(n)), err)
		}
	}
	arenaOK := first == last || (m.contiguous && last-first < int64(len(m.slots)) && m.slotNum(first) <= m.slotNum(last))
	if arenaOK {
		for idx := first; idx <= last; idx++ {
			ok, err := b.hold(idx, write, op, off, n)
			if err != nil {
				return nil, m.wrapErr(op, at(off, int64(n)), err)
			}
			arenaOK = arenaOK && ok
		}
	}
	if !arenaOK {
		p, err := b.view(first, last, write, op, off, n)
		if err != nil {
			return nil, m.wrapErr(op, at(off, int64(n)), err)
		}
		o := off - first<<m.shift
		return p[o : o+int64(n) : o+int64(n)], nil
	}
	// Point the fast path at each held chunk, within [Start, Size).
	// The runs end at the Size the allocation above covered (a later,
	// larger Size is not allocated for them), and only a call that
	// allocated marks them writable.
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
		b.runs[uint64(idx)%batchRuns] = batchRun{
			lo:    lo,
			run:   m.slotBytes(int64(m.slotNum(idx)), lo&m.mask, int(hi-lo)),
			write: write,
		}
	}
	return m.slotBytes(int64(m.slotNum(first)), off&m.mask, int(int64(n))), nil
}

// hold holds chunk idx in its arena slot for the rest of the batch (and
// writable, with write), unless it already is; false means the slot is held
// by another chunk, and the caller must use a view. The chunk is one of
// those of op on the n bytes at off.
func (b *Batch) hold(idx int64, write bool, op string, off int64, n int) (bool, error) {
	m := b.m
	c := b.find(idx)
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
		if b.held == nil {
			b.held = b.inline[:0]
		}
		b.held = append(b.held, batchChunk{idx: idx, s: s})
		c = &b.held[len(b.held)-1]
		if b.index != nil {
			b.index[idx] = len(b.held) - 1
		} else if len(b.held) > batchIndexFrom {
			b.index = make(map[int64]int, 2*len(b.held))
			for i, h := range b.held {
				b.index[h.idx] = i
			}
		}
	}
	if write && !c.write {
		c.write = true
		c.s.wholds.Add(1)
		m.markDirtyIndex(idx, c.s)
	}
	return true, nil
}

// view returns the bytes of chunks [first, last] side by side in a private
// view that the batch holds until it ends, mapping it if it has none: those
// of op on the n bytes at off.
func (b *Batch) view(first, last int64, write bool, op string, off int64, n int) ([]byte, error) {
	m := b.m
	key := [2]int64{first, last}
	views := &b.views
	if write {
		views = &b.wviews
	}
	if vh := (*views)[key]; vh != nil {
		return vh.v.Bytes(), nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkChunksLocked(off, n); err != nil {
		return nil, err
	}
	vh, err := m.mapViewLocked(first, last-first+1, write, op)
	if err != nil {
		return nil, err
	}
	if *views == nil {
		*views = make(map[[2]int64]*viewHold)
	}
	(*views)[key] = vh
	return vh.v.Bytes(), nil
}
