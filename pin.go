package chunkmap

// This file holds the pin API: mapped bytes handed out for zero-copy access,
// held in place until released, across chunk boundaries too.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/arena"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// Pinned is a range of a dataset's bytes held mapped in place until Release,
// whatever the LRU wants: the chunks under it are never unmapped while
// pinned, even by Truncate, DropBefore or Close (their files may already be
// deleted then). The bytes are one contiguous slice, also when the range
// crosses chunk boundaries.
//
// Pin returns a *Pinned; pass the pointer around, not copies of the value.
// A copy still acts through the Pinned it was copied from, so Release is
// idempotent across all of them: it releases the pin once, and never
// another holder's. Bytes and Release may be called from any goroutine, and
// the bytes may be used by many goroutines until Release. Copying the
// value reads all of it, so a copy made while another goroutine may call
// Release is a data race: make copies before the pin is shared.
type Pinned struct {
	self     *Pinned // the Pinned that Pin returned; copies act through it
	m        *Manager
	b        []byte
	first    int64   // index of the first chunk
	slots    []*slot // the held arena slots, in chunk order; nil with a view
	one      [1]*slot
	view     *viewHold
	write    bool
	released atomic.Bool
}

// viewHold is a private mapping of several chunks side by side, for a pin
// or a Batch whose chunks cannot be side by side in the arena: their slots
// wrap around its end, or one of them is held by another chunk. Views are
// listed in mu.views while they exist.
type viewHold struct {
	v     *arena.View
	first int64 // index of the first chunk
	n     int64 // chunks mapped
	// lo is where in the first chunk the view's bytes begin: 0 where
	// it maps its chunks whole, else a page boundary (see spanView).
	lo    int64
	write bool
	// ids are the identities of the files mapped, for Sync (see
	// markViewDirtyLocked), and deletions the Manager's deletion counter
	// when they were mapped.
	ids       []fs.FileInfo
	deletions uint64
}

// markViewDirtyLocked queues the chunks of a writable view that still
// exist for the next Sync, naming the files the view maps unless chunk
// files have been deleted since they were mapped (then a chunk may have
// been made anew, and the view's file is not the one to compare).
//
// REQUIRES: m.mu held.
func (m *Manager) markViewDirtyLocked(vh *viewHold) {
	same := m.deletions.Load() == vh.deletions
	for idx := vh.first; idx < vh.first+vh.n; idx++ {
		// A chunk deleted since (Truncate, DropBefore) has no file left
		// to sync.
		if idx < m.mu.first || idx >= m.mu.first+m.mu.nchunks {
			continue
		}
		var id fs.FileInfo
		if same {
			id = vh.ids[idx-vh.first]
		}
		m.markFileDirtyLocked(idx, id)
	}
}

// Pin returns the bytes [off, off+n) of the dataset pinned in place, for
// reading. The range must lie within [Start, Size); otherwise Pin returns
// ErrOutOfRange. It may cross chunk boundaries: every chunk it covers is
// held, and the bytes are contiguous. A Pin of 0 bytes (at an offset in
// [Start, Size)) holds nothing, and its Bytes are empty. Storing to the
// bytes of a read pin is not allowed (on a ReadOnly Manager it faults).
func (m *Manager) Pin(off int64, n int) (*Pinned, error) {
	return m.pin("pin", off, n, false)
}

// PinWritable is Pin for bytes the caller will store to. A Sync that starts
// after a store through the pinned bytes makes it durable. On a ReadOnly
// Manager it returns ErrReadOnly.
func (m *Manager) PinWritable(off int64, n int) (*Pinned, error) {
	// checkWrite reports ErrClosed first, then ErrReadOnly, then a failed
	// Sync: stores through the pin would be in doubt like any write. Its
	// message names n as given, negative too (pin refuses that).
	if err := m.checkWrite("pin", at(off, int64(n))); err != nil {
		return nil, err
	}
	return m.pin("pin", off, n, true)
}

// pin is Pin (or, with write, PinWritable) for operation op, which its
// errors name.
func (m *Manager) pin(op string, off int64, n int, write bool) (*Pinned, error) {
	if !m.live.Load() {
		return nil, m.errorf(op, at(off, int64(n)), ErrClosed, "")
	}
	if err := m.follow(op, at(off, int64(n))); err != nil {
		return nil, err
	}
	if err := m.checkRange(op, off, n); err != nil {
		return nil, err
	}
	st := &Pinned{m: m, write: write, first: off >> m.shift}
	st.self = st
	if n == 0 {
		return st, nil
	}
	last := (off + int64(n) - 1) >> m.shift
	o := off & m.mask
	if last == st.first {
		// The common case: one chunk, mapped; hold it without the lock.
		if s, ok := m.holdFast(st.first); ok && (write && s.alloc.Load() < o+int64(n) || off+int64(n) > m.state().size.Load()) {
			// Not yet allocated on disk, or Size no longer covers the
			// range (see slots.go): the locked path sees to it.
			m.unholdSlot(s)
		} else if ok {
			if write {
				if writeHoldHook != nil {
					writeHoldHook()
				}
				s.wholds.Add(1)
				if !m.live.Load() {
					// Close began after the check above and may have
					// looked for writable holds before this one was
					// counted (see Batch.hold).
					s.wholds.Add(-1)
					m.unholdSlot(s)
					return nil, m.errorf(op, at(off, int64(n)), ErrClosed, "")
				}
				if !s.isDirty() {
					m.markDirtyIndex(st.first, s)
				}
			}
			st.one[0] = s
			st.slots = st.one[:]
			st.b = m.slotBytes(int64(m.slotNum(st.first)), o, n)
			return st, nil
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkChunksLocked(off, n); err != nil {
		return nil, m.wrapErr(op, at(off, int64(n)), err)
	}
	if d := m.rangeDetail(off, int64(n)); d != "" {
		// A Truncate since the check above (see slots.go).
		return nil, m.errorf(op, at(off, int64(n)), ErrOutOfRange, d)
	}
	if write {
		// Stores through a pin cannot be refused: the blocks under them
		// are allocated first, so a full disk is this call's error.
		if err := m.allocRangeLocked(off, int64(n), false, false); err != nil {
			return nil, m.wrapErr(op, at(off, int64(n)), err)
		}
	}
	b, slots, view, err := m.holdRangeLocked(st.first, last, o, int64(n), write, op)
	if err != nil {
		return nil, m.wrapErr(op, at(off, int64(n)), err)
	}
	if m.follows.Load() {
		// A follower's holds may have taken the writer's state (a miss
		// follows), which may no longer cover the range: the writer cut
		// it, and perhaps wrote part of it again.
		if d := m.rangeDetail(off, int64(n)); d != "" {
			m.releaseHeldLocked(slots, view, write)
			return nil, m.errorf(op, at(off, int64(n)), ErrOutOfRange, d)
		}
	}
	st.slots, st.view = slots, view
	if view != nil {
		o -= view.lo // a span view starts at the page of off
	}
	st.b = b[o : o+int64(n) : o+int64(n)]
	return st, nil
}

// releaseHeldLocked gives back what holdRangeLocked held for a pin that
// is refused after all: the slots' holds (a chunk the writer deleted
// meanwhile is unmapped with its last hold) or the view, then evicts down
// to MaxMapped, which the holds may have kept mapped past.
//
// REQUIRES: m.mu held.
func (m *Manager) releaseHeldLocked(slots []*slot, view *viewHold, write bool) {
	for _, s := range slots {
		if write {
			s.wholds.Add(-1)
		}
		s.holds.Add(-1)
		m.finishDoomedLocked(s)
	}
	if view != nil {
		m.releaseViewLocked(view)
	}
	if m.live.Load() {
		m.evictLocked(0)
	}
}

// checkChunksLocked checks that the Manager is open and the chunks of
// [off, off+n) exist: a Truncate or DropBefore may have run since the
// caller checked the range. Its errors do not name the operation or offset
// (see wrapErr).
//
// REQUIRES: m.mu held.
func (m *Manager) checkChunksLocked(off int64, n int) error {
	if !m.live.Load() {
		return ErrClosed
	}
	// off+n may be 2^63 (a range that ends the top chunk): subtract first.
	first, last := off>>m.shift, (off+int64(max(n, 1)-1))>>m.shift
	if m.follows.Load() && (first < m.mu.first || last >= m.mu.first+m.mu.nchunks) {
		// A reader learns of the writer's new chunks here.
		if _, err := m.followLocked(); err != nil {
			return err
		}
	}
	// The caller found the range within [Start, Size): say what moved it
	// out since, so that the error of a read racing retention reads as
	// such.
	if first < m.mu.first {
		return fmt.Errorf("%w: chunk %d was dropped meanwhile (the dataset starts at chunk %d now)", ErrOutOfRange, first, m.mu.first)
	}
	if last >= m.mu.first+m.mu.nchunks {
		if m.follows.Load() && m.rangeDetail(off, int64(n)) == "" && m.epochStillLocked() {
			// The writer's Size, just taken, needs the chunk, and the
			// writer deleted nothing since (it moves the epoch first):
			// the file is missing, not cut off by a Truncate.
			return m.missingChunk(max(off, (m.mu.first+m.mu.nchunks)<<m.shift))
		}
		return pastEnd{fmt.Sprintf("chunk %d was cut off meanwhile (the dataset ends before chunk %d now)", last, m.mu.first+m.mu.nchunks)}
	}
	return nil
}

// epochStillLocked reports whether a follower's shared state page is still
// at the epoch the follower last took from it, or there is no live writer
// to follow (nothing then deletes chunk files but another program).
//
// REQUIRES: m.mu held; m.follows.Load().
func (m *Manager) epochStillLocked() bool {
	ps, ok := m.shared.load(m.boot)
	if !ok || !m.followable(ps) {
		return true
	}
	return ps.stable && ps.epoch == m.seen.Load()
}

// missingChunk is the error of a read at off that met errPastEnd, a chunk
// that does not exist, while nothing changed Size or Start: Size needs a
// chunk file that is not there. A writer's chunks always are; a follower's
// may have been removed by another program (ErrFault, as for one it had
// opened before).
func (m *Manager) missingChunk(off int64) error {
	return fmt.Errorf("%w: chunk file %s is missing, and Size %d needs it", ErrFault, m.chunkPath(off>>m.shift), m.state().size.Load())
}

// pastEnd is the error of a range that a Truncate shrank the dataset
// under after the caller checked it against Size: it reaches past the
// last chunk (checkChunksLocked) or past Size (readSlow), and detail says
// which. It matches ErrOutOfRange; ReadAt reads on up to the new Size at
// it and ends with io.EOF, as a file's read that meets its truncation.
type pastEnd struct{ detail string }

func (e pastEnd) Error() string { return fmt.Sprintf("%v: %s", ErrOutOfRange, e.detail) }

func (e pastEnd) Is(target error) bool { return target == ErrOutOfRange || target == errPastEnd }

// errPastEnd matches a pastEnd error, for errors.Is, which unlike errors.As
// allocates nothing on the read paths that test for it.
var errPastEnd = errors.New("chunkmap: past the last chunk")

// holdRangeLocked holds chunks [first, last] and returns their bytes, one
// contiguous slice from the start of chunk first: the held arena slots if
// the arena places them side by side, else a private view. Its errors do
// not name the operation or offset (see wrapErr).
//
// A follower holds or opens the chunks one at a time, and may take the
// writer's state while it does (a miss follows): if the writer deleted and
// made anew a chunk held or opened before that, the bytes would join an
// old chunk to a new one, so the range is held again, three times at most,
// then refused with ErrOutOfRange as a range the writer keeps cutting.
//
// REQUIRES: m.mu held; the chunks existed when the caller checked (for a
// follower, the writer may delete them while this maps them: the error
// of the open then says so).
func (m *Manager) holdRangeLocked(first, last, o, nb int64, write bool, op string) ([]byte, []*slot, *viewHold, error) {
	for tries := 1; ; tries++ {
		b, slots, vh, err := m.holdRangeOnceLocked(first, last, o, nb, write, op)
		if err != errStaleHold {
			return b, slots, vh, err
		}
		if tries == staleTries {
			return nil, nil, nil, staleError(first, last)
		}
	}
}

// staleTries is how many times a follower holds or maps a range of chunks
// that the writer keeps replacing (holdRangeLocked, mapViewLocked).
const staleTries = 3

// staleError is the error of a range of chunks [first, last] that a
// follower could not hold whole in staleTries tries.
func staleError(first, last int64) error {
	return fmt.Errorf("%w: the writer deleted and made anew chunks of %d to %d while they were mapped, each of %d times",
		ErrOutOfRange, first, last, staleTries)
}

// errStaleHold is holdRangeOnceLocked's report that a follower's range
// joined chunks from before and after the writer replaced one of them.
var errStaleHold = errors.New("chunkmap: a chunk held was replaced meanwhile")

// holdRangeOnceLocked is one try of holdRangeLocked.
//
// REQUIRES: m.mu held.
func (m *Manager) holdRangeOnceLocked(first, last, o, nb int64, write bool, op string) ([]byte, []*slot, *viewHold, error) {
	span := last - first + 1
	if span == 1 || (m.contiguous && span <= int64(len(m.slots)) && m.slotNum(first) <= m.slotNum(last)) {
		held := make([]*mapping, 0, span)
		release := func() {
			// A follower's holdLocked may have taken the writer's
			// state meanwhile and doomed chunks held here (deleted by
			// the writer): the last hold of such a chunk unmaps it.
			for _, h := range held {
				m.unholdLocked(h, write)
				m.finishDoomedLocked(h.s)
			}
			// Holds kept these chunks mapped past MaxMapped, perhaps:
			// with them gone, evict down to the bound, as the release
			// of a last hold does.
			if m.live.Load() {
				m.evictLocked(0)
			}
		}
		for idx := first; idx <= last; idx++ {
			mp, err := m.holdLocked(idx, write, op)
			if err != nil || mp == nil {
				release()
				if err != nil {
					return nil, nil, nil, err
				}
				held = nil
				break
			}
			held = append(held, mp)
		}
		for _, h := range held {
			if h.s.doomed.Load() {
				release()
				return nil, nil, nil, errStaleHold
			}
		}
		if held != nil {
			slots := make([]*slot, len(held))
			for i, mp := range held {
				slots[i] = mp.s
			}
			return m.slotBytes(int64(held[0].k), 0, int(span<<m.shift)), slots, nil, nil
		}
	}
	lo, hi := int64(0), m.chunkSize
	if spanView && span > maxWholeView>>m.shift {
		lo, hi = m.spanOf(o, nb)
	}
	vh, err := m.mapViewLocked(first, span, lo, hi, write, op)
	if err != nil {
		return nil, nil, nil, err
	}
	return vh.v.Bytes(), nil, vh, nil
}

// spanView lets a pin's private view map only the pages of its range
// where its chunks whole would take more than maxWholeView bytes, and that
// is possible: on 32-bit platforms, a view of whole chunks of 1 GiB (the
// default ChunkSize) across one boundary is 2 GiB, more than one range of
// a 32-bit address space can hold, so every pin across two such chunks
// failed, and one of two chunks of 512 MiB needed a free GiB. Elsewhere a
// view maps its chunks whole, so that Stats.Mapped × ChunkSize stays the
// bytes of chunk files mapped.
const spanView = arena.SpanViews

// maxWholeView is the most bytes a private view maps whole (see spanView):
// the arena's bound on 32-bit platforms, as much as an int holds on 64-bit
// ones.
const maxWholeView = maxArena32 + (math.MaxInt-maxArena32)*(bits.UintSize/64)

// spanOf returns the page-aligned bounds of a span view of the nb bytes
// from offset o of a first chunk on: where in the first chunk it begins,
// and where in the last one it ends. An empty range (a Batch's Bytes or
// Hold of 0 bytes) spans the page of o, as one byte there would: its end
// taken as o made the span of one at a page boundary empty, which no view
// can map.
func (m *Manager) spanOf(o, nb int64) (lo, hi int64) {
	page := int64(os.Getpagesize())
	end := (o+max(nb, 1)-1)&m.mask + 1
	return o &^ (page - 1), min(m.chunkSize, (end+page-1)&^(page-1))
}

// unholdLocked releases a hold taken by holdLocked that was not handed
// out. The chunk is live (held, so not evicted or deleted since).
//
// REQUIRES: m.mu held.
func (m *Manager) unholdLocked(mp *mapping, write bool) {
	if write {
		mp.s.wholds.Add(-1)
	}
	mp.s.holds.Add(-1)
}

// mapViewLocked maps chunks [first, first+n) side by side in a private
// view. A follower maps them again, staleTries times at most, if the
// writer replaced one it had opened while it opened the next
// (holdRangeLocked).
//
// REQUIRES: m.mu held; the chunks exist.
func (m *Manager) mapViewLocked(first, n, lo, hi int64, write bool, op string) (*viewHold, error) {
	for tries := 1; ; tries++ {
		vh, err := m.mapViewOnceLocked(first, n, lo, hi, write, op)
		if err != errStaleHold {
			return vh, err
		}
		if tries == staleTries {
			return nil, staleError(first, first+n-1)
		}
	}
}

// mapViewOnceLocked is one try of mapViewLocked.
//
// REQUIRES: m.mu held.
func (m *Manager) mapViewOnceLocked(first, n, lo, hi int64, write bool, op string) (*viewHold, error) {
	mode := chunk.ReadOnly
	if write {
		mode = chunk.ReadWrite
	}
	files := make([]*chunk.File, 0, n)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	deletions := m.deletions.Load()
	for idx := first; idx < first+n; idx++ {
		f, err := m.openChunkLocked(idx, mode, true)
		if err != nil {
			return nil, chunkError(err)
		}
		files = append(files, f)
	}
	if m.follows.Load() && m.deletions.Load() != deletions {
		// The open of a later chunk took the writer's state: the files
		// opened before it may be gone (holdRangeLocked).
		for _, f := range files {
			if m.replaced(f) {
				return nil, errStaleHold
			}
		}
	}
	oss := make([]*os.File, len(files))
	for i, f := range files {
		oss[i] = f.OS()
	}
	mapView := func() (*arena.View, error) {
		if err := roomForChunks(n); err != nil {
			return nil, err
		}
		if lo == 0 && hi == m.chunkSize {
			return arena.MapView(oss, m.chunkSize, write)
		}
		return arena.MapSpan(oss, m.chunkSize, lo, hi, write)
	}
	v, err := mapView()
	if err != nil && mapRefused(err) {
		// As for a chunk in its slot (refusedLocked): give back what
		// can be, and try once more.
		m.relieveLocked(err)
		if v, err = mapView(); err != nil && mapRefused(err) {
			err = m.refusalError(err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("map chunks %d to %d side by side: %w", first, first+n-1, classify(err))
	}
	if b := v.Bytes(); m.opts.Advice != AdviceNormal && len(b) > 0 {
		// As every chunk mapped in its slot gets it (mapFileLocked). A
		// hint only changes speed; a failure changes nothing else.
		arena.Advise(unsafe.Pointer(unsafe.SliceData(b)), int64(len(b)), m.opts.Advice.arena())
	}
	vh := &viewHold{v: v, first: first, n: n, lo: lo, write: write, deletions: m.deletions.Load()}
	for _, f := range files {
		vh.ids = append(vh.ids, f.Info())
	}
	m.mu.views = append(m.mu.views, vh)
	m.maps.Add(n)
	mappedInProcess.Add(n)
	return vh, nil
}

// releaseViewLocked unmaps a private view, handing the chunks it could
// have stored to to the next Sync.
//
// REQUIRES: m.mu held.
func (m *Manager) releaseViewLocked(vh *viewHold) error {
	for i, v := range m.mu.views {
		if v == vh {
			m.mu.views = append(m.mu.views[:i], m.mu.views[i+1:]...)
			break
		}
	}
	var err error
	if vh.write {
		if !m.live.Load() {
			m.lateHolds.Store(true) // see writableHeldLocked
		}
		if err = vh.v.Flush(); err != nil {
			err = m.fail(err)
		}
		m.markViewDirtyLocked(vh)
	}
	m.unmaps.Add(vh.n)
	mappedInProcess.Add(-vh.n)
	err = errors.Join(err, vh.v.Release())
	if unmapBeforeRemove {
		m.removeLaterLocked()
	}
	return err
}

// viewedLocked reports whether a private view maps chunk idx: where a
// mapped file cannot be deleted (unmapBeforeRemove), its file then waits
// for the view's release.
//
// REQUIRES: m.mu held.
func (m *Manager) viewedLocked(idx int64) bool {
	for _, vh := range m.mu.views {
		if idx >= vh.first && idx < vh.first+vh.n {
			return true
		}
	}
	return false
}

// Bytes returns the pinned bytes. The slice stays valid, and its bytes
// mapped, until Release; it must not be used after that. Bytes returns nil
// once Release has been called.
func (p *Pinned) Bytes() []byte {
	if p == nil || p.self == nil || p.self.released.Load() {
		return nil
	}
	return p.self.b
}

// Release unpins the bytes; the chunks may be unmapped again after it.
// Calling Release again, on any copy, or on a nil Pinned, does nothing.
func (p *Pinned) Release() {
	if p == nil || p.self == nil || p.self.released.Swap(true) {
		return
	}
	p = p.self
	m := p.m
	for i, s := range p.slots {
		if p.write {
			// Stores made since Pin must reach the next Sync even if a
			// Sync in between cleared the flag.
			m.unholdWritable(p.first+int64(i), s)
		} else {
			m.unholdSlot(s)
		}
	}
	if p.view != nil {
		m.mu.Lock()
		m.releaseViewLocked(p.view)
		m.mu.Unlock()
	}
}
