package chunkmap

// This file holds the writes that extend the dataset: Append, and WriteAt
// past Size (writeAt hands those here). Each claims the range past every
// byte handed out before (mu.reserved), growing the dataset for it, writes
// it without the lock, and then publishes it (publish): a WriteAt moves
// Size over its range at once, as a pwrite past a file's end does, while
// an Append that finishes before an earlier one waits in mu.pending until
// Size reaches it, so among appends a reader never sees a hole, and an
// Append returns only once Size covers it. Claims are made under m.mu,
// with m.resize held by the caller (for reading; for writing by a small
// WriteAt whose growth makes many chunk files, see fileRun), so no shrink
// runs between a claim and its publication.

// Append writes p at the end of the dataset and returns the offset it was
// written at. Concurrent appends never overlap: each reserves its own range
// atomically, and Size covers an append only when every earlier one has
// finished, so among appends a reader never sees a hole. (A WriteAt past
// Size extends Size at once, as a pwrite past a file's end does, also over
// an Append still being written: until that Append finishes, a reader may
// see zeros in its range.) An Append returns once Size
// covers it (one that finishes before an earlier one waits for it, as
// appends to a file wait for each other), so every Append that returned
// survives a crash of the process, and a Sync called after it records it.
// A zero-length Append changes nothing and returns the current end (or,
// like every write, the error of a closed or read-only Manager or of a
// failed Sync). If
// creating a chunk, allocating its blocks or writing fails, Append returns
// the error and leaves Size as it was, except where a later Append has
// already reserved the bytes after it: its range then stays in the
// dataset, holding what was written of p and zeros elsewhere. As with
// WriteAt, an Append whose new Size the manifest's state page cannot take
// returns an error although Size covers it in this process.
func (m *Manager) Append(p []byte) (int64, error) {
	if err := m.checkWrite("append", ofLen(int64(len(p)))); err != nil {
		return 0, err
	}
	m.resize.RLock()
	defer m.resize.RUnlock()
	m.mu.Lock()
	off := m.mu.reserved
	if len(p) == 0 {
		m.mu.Unlock()
		return off, nil
	}
	if int64(len(p)) > maxOffset-off {
		m.mu.Unlock()
		return 0, m.errorf("append", at(off, int64(len(p))), ErrOutOfRange, "end overflows int64")
	}
	end := off + int64(len(p)) // checked above: no overflow
	c, err := m.claimLocked(off, end, false)
	m.mu.Unlock()
	if err != nil {
		return 0, m.wrapErr("append", at(off, int64(len(p))), err)
	}
	_, err = m.extend(p, c, true)
	return off, m.wrapErr("append", at(off, int64(len(p))), err)
}

// claim is a range reserved for a write that extends the dataset.
type claim struct {
	off, end int64
	prev     int64  // where the reservation stood before
	seq      uint64 // the reservation's number (mu.claims after it)
	// The chunks the claim's growth created, [made, upto): removed again
	// if its write fails and it is given back, unless more growth
	// followed, or a Grow (mu.grows, as of the claim) ran meanwhile.
	made, upto int64
	grows      uint64
	// owes says that the claim's growth left chunk files for the maker
	// to create (ahead.go).
	owes bool
}

// extend writes p over the range c handed to this caller, publishes it,
// and for a successful append waits until Size covers it. The range is
// published also if the write panics, so that later appends waiting for it
// are not kept waiting.
func (m *Manager) extend(p []byte, c claim, isAppend bool) (n int, err error) {
	done := false
	defer func() {
		if !done {
			m.publish(c, isAppend, false)
		}
	}()
	// The bytes below the claim's start, c.prev (those of a write that
	// begins below Size), are written first, on their own: they are
	// allocated already, while a pwrite that also reaches past them may
	// fail for lack of space, and on tmpfs it then reports nothing
	// written although it has stored into the pages that existed, so n
	// would miss bytes it changed below Size.
	split := len(p)
	if c.prev > c.off && c.prev-c.off < int64(len(p)) {
		split = int(c.prev - c.off)
	}
	// The bytes past c.prev were reserved by this claim alone: they may
	// be spread (spread.go).
	switch {
	case c.off >= c.prev:
		n, err = m.writeGrown(p, c.off)
	case split < len(p):
		n, err = m.write(p[:split], c.off)
		if err == nil {
			var k int
			k, err = m.writeGrown(p[split:], c.prev)
			n += k
		}
	default:
		n, err = m.write(p, c.off)
	}
	if err == nil && c.owes {
		// A write past Size leaves the chunks wholly in its gap
		// untouched: their files, which the maker may still owe, are
		// settled before Size covers them, so that no chunk is owed
		// once the write returns (ahead.go). Only the claim's own: a
		// later claim's growth settled these already if it ran, and
		// owes chunks its own write needs, whose failure is not this
		// write's.
		m.mu.Lock()
		err = m.settleRangeLocked(c.made, c.upto)
		m.mu.Unlock()
	}
	done = true
	covered, kept := m.publish(c, isAppend, err == nil)
	if !covered && isAppend && err == nil {
		m.awaitCovered(c.end)
	}
	if err == nil {
		// Size covers the write: so must the shared state page, or a
		// crash of the process would lose what the write returned.
		err = m.pageErr()
	}
	// A range given back holds nothing of the dataset past Size: n counts
	// only the bytes written below it.
	return int(min(int64(n), max(0, kept-c.off))), err
}

// reserve prepares [off, end) for a write that extends the dataset: it
// creates the chunks, zeroes stale bytes, and hands the range to the
// caller, who then calls extend. Its errors do not name the operation,
// offset or directory: the caller's do.
func (m *Manager) reserve(off, end int64, pausing bool) (claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claimLocked(off, end, pausing)
}

// keepHoles makes Open treat every file system as one that keeps holes
// (holesFault false): tests set it (export_test.go) to leave holes below
// Size on a small tmpfs, which they fill to exercise the allocation of
// stores into holes, as on a full disk of a file system that keeps them.
var keepHoles bool

// claimLocked is reserveLocked, returning what publish needs to give the
// range back if its write fails. With pausing (the caller holds resize for
// writing) its growth lets go of mu between runs of files (see fileRun).
//
// A write of bulkWrite bytes or more goes to the chunk files with pwrite,
// which allocates the blocks it fills and fails for lack of space by
// itself: its range is handed out unallocated, saving a fallocate that
// would allocate (on tmpfs: zero) every page the write then fills. That is
// safe only while the claim is the latest, whose failure gives its range
// back. So at most one claim is unallocated, mu.unalloc, and the next
// claim first allocates what of it its write may not have filled yet; if
// that fails, the next claim fails instead, and the earlier one stays the
// latest.
//
// REQUIRES: m.mu held; for pausing, resize held for writing.
func (m *Manager) claimLocked(off, end int64, pausing bool) (claim, error) {
	// The state page must take the new Size when the write publishes:
	// one that a fault left behind is written again first, or the write
	// is refused with nothing done.
	if err := m.pageErrLocked(false); err != nil {
		return claim{}, err
	}
	if u := m.mu.unalloc; u.seq != 0 {
		if err := m.allocRangeLocked(u.off, u.end-u.off, false, true); err != nil {
			return claim{}, err
		}
		m.mu.unalloc = claim{}
	}
	c := claim{off: off, end: end, prev: m.mu.reserved, made: m.mu.first + m.mu.nchunks, grows: m.mu.grows}
	byWrite := end-off >= bulkWrite && !m.fillChunks
	if err := m.reserveLocked(off, end, !byWrite, pausing); err != nil {
		return claim{}, err
	}
	m.mu.claims++
	c.seq = m.mu.claims
	c.upto = m.mu.first + m.mu.nchunks
	c.owes = m.owesLocked()
	if byWrite {
		m.mu.unalloc = c
	}
	return c, nil
}

// reserveLocked creates the chunks [off, end) needs, zeroes the stale bytes
// before it, allocates its blocks if alloc, and moves reserved past it.
// With pausing it lets go of mu between runs of files it creates or
// allocates (see fileRun).
//
// REQUIRES: m.mu held; for pausing, resize held for writing.
func (m *Manager) reserveLocked(off, end int64, alloc, pausing bool) error {
	if !m.live.Load() {
		return ErrClosed
	}
	how := growHere
	switch {
	case pausing:
		how = growPausing
	case !alloc:
		how = growAhead
	}
	// If zeroing or allocating fails, the chunk files the growth created
	// go again: the dataset is left as it was.
	err := m.growThenLocked(end, how, func() error {
		if end > m.mu.reserved && m.mu.hwm > m.mu.reserved {
			// Bytes past reserved may be stale (from before a Truncate,
			// or unsynced writes before a crash). Those up to end are
			// zeroed, the range handed to this writer included: another
			// writer's publish may cover it before this one has written
			// it, and a reader must then see zeros, as in a file's gap,
			// never old data. Those past end may stay stale, past
			// reserved, as the invariant allows.
			if err := m.zeroStaleLocked(end); err != nil {
				return err
			}
			atRace(siteStaleZeroed)
		}
		// Where reading a hole through a mapping needs a page (tmpfs),
		// the bytes this reservation leaves unwritten before off (a
		// Truncate that extends the dataset, the gap before a write past
		// Size) are allocated too, with the write's own if alloc: Size
		// will cover them, and on a full file system a read of them
		// through a pin, a Batch or an atomic would fault, a SIGBUS for
		// a pin, where read(2) returns zeros. So a full disk is this
		// call's error instead.
		if m.holesFault && off > m.mu.reserved {
			to := off
			if alloc {
				to = end
			}
			return m.allocDownLocked(m.mu.reserved, to, pausing)
		}
		// The blocks the write needs are allocated before the range is
		// handed out, unless its write allocates them (claimLocked): a
		// write that failed for lack of space afterwards would have to
		// be published all the same if a later claim depends on it
		// (later appends wait for it), extending Size over bytes never
		// written.
		if !alloc {
			return nil
		}
		return m.allocRangeLocked(off, end-off, pausing, true)
	})
	if err != nil {
		return err
	}
	m.mu.reserved = max(m.mu.reserved, end)
	m.mu.hwm = max(m.mu.hwm, end)
	return nil
}

// publish extends Size over the finished write of claim c, and reports
// whether Size now covers it, and where what stays of the claim's range in
// the dataset ends. An append is covered only once Size has reached its
// offset; one that finishes early waits in pending. A write that failed (ok
// false) gives its range back if no range was claimed after it, leaving
// Size as it was (what it wrote below Size stays); its bytes past Size are
// then past reserved, where the next reservation zeroes them. Otherwise a
// later writer depends on it, so it is published as if it had succeeded,
// with what it wrote.
func (m *Manager) publish(c claim, isAppend, ok bool) (covered bool, kept int64) {
	if !ok {
		// A claim given back may remove the chunk files its growth
		// created, which a Sync running meanwhile could have taken
		// as dirty, and then find gone: removal excludes Sync, as in
		// Truncate.
		m.syncMu.Lock()
		defer m.syncMu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.unalloc.seq == c.seq {
		// Done: what the write filled is allocated (fileIOLocked), and
		// the range is published or given back below.
		m.mu.unalloc = claim{}
	}
	if !ok && m.mu.claims == c.seq {
		// The claim is undone: the one before it is the latest again, so
		// it too can be given back if it fails. The chunk files its
		// growth created go too, unless a Grow has created more since:
		// nothing else reaches past reserved, so nothing else used them.
		m.mu.reserved = c.prev
		m.mu.claims = c.seq - 1
		// (A file that cannot be removed is past the dataset's end,
		// where growth and Open remove it; the write's error is the
		// caller's.) A Grow meanwhile may have allocated in them what
		// it promised: they stay then.
		if c.upto > c.made && m.mu.first+m.mu.nchunks == c.upto && m.mu.grows == c.grows {
			_ = m.unmakeLocked(c.made, c.upto)
			m.mu.nchunks = c.made - m.mu.first
			// Chunks created again start as zeros (as in Truncate).
			m.mu.hwm = min(m.mu.hwm, chunkOffset(c.made, m.shift))
		}
		return false, m.state().size.Load()
	}
	off, end := c.off, c.end
	size := m.state().size.Load()
	if isAppend && off > size {
		m.mu.pending.add(off, end)
		return false, end
	}
	size = m.mu.pending.cover(max(size, end))
	m.state().size.Store(size)
	m.mirrorSizeLocked(size)
	m.mu.covered.Broadcast()
	return true, end
}

// pendingAppends holds the appends that finished before Size reached their
// offset, as a heap by offset. A publish merges those that the new Size
// reaches, in turn from the lowest, so it looks at each pending append once
// (and at one more) instead of scanning them all again for each one it
// merges: with thousands of goroutines appending, thousands wait here, and
// such a scan under mu made every Append cost time in proportion to them.
// (container/heap would box each entry in an interface to push it: an
// allocation per out-of-order Append, under mu.)
type pendingAppends struct {
	h []pendingAppend
	// looked counts the pending appends cover has looked at, for tests.
	looked int
}

// pendingAppend is the range [off, end) of a finished append.
type pendingAppend struct{ off, end int64 }

// add puts the finished append [off, end) in p.
func (p *pendingAppends) add(off, end int64) {
	p.h = append(p.h, pendingAppend{off, end})
	for i := len(p.h) - 1; i > 0; {
		up := (i - 1) / 2
		if p.h[up].off <= p.h[i].off {
			break
		}
		p.h[i], p.h[up] = p.h[up], p.h[i]
		i = up
	}
}

// cover takes out of p every append that a Size of size reaches, as Size
// grows over each, and returns the Size that covers them all.
func (p *pendingAppends) cover(size int64) int64 {
	for len(p.h) > 0 {
		p.looked++
		if p.h[0].off > size {
			break
		}
		size = max(size, p.h[0].end)
		p.pop()
	}
	if len(p.h) == 0 && cap(p.h) > 1024 {
		p.h = nil // a burst of appenders is over: give back what it took
	}
	return size
}

// pop removes the lowest append from p.
func (p *pendingAppends) pop() {
	last := len(p.h) - 1
	p.h[0] = p.h[last]
	p.h = p.h[:last]
	for i := 0; ; {
		low, l, r := i, 2*i+1, 2*i+2
		if l < last && p.h[l].off < p.h[low].off {
			low = l
		}
		if r < last && p.h[r].off < p.h[low].off {
			low = r
		}
		if low == i {
			return
		}
		p.h[i], p.h[low] = p.h[low], p.h[i]
		i = low
	}
}

// awaitCovered waits until Size reaches end: until every append reserved
// before the caller's has been published. Those appends are writes in
// progress in other goroutines, each of which publishes when its write
// returns, and no shrink can run meanwhile (the caller holds resize), so
// the wait ends.
func (m *Manager) awaitCovered(end int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.state().size.Load() < end {
		m.mu.covered.Wait()
	}
}
