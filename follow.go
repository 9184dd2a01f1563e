package chunkmap

// This file lets a read-only Manager follow a writer, in this process or
// another: live, through the shared state page (manifest.go), or at points
// in time chosen with Refresh.
//
// A reader maps the state page of the manifest file and reads Start and
// Size from it, so it sees every change the moment the writer makes it. It
// learns of chunk files the writer created on its first miss past the ones
// it knows (the writer creates a file before it publishes a Size that needs
// it), and of files the writer deleted through the state page's epoch,
// which the writer advances before it deletes any: a reader that sees the
// epoch move closes the files it has open that may no longer be under
// their names (followLocked): those below Start, those past Size, and
// those past the lowest Size a cut left since it last looked (the state
// page records the cuts: keptBelowLocked), so that it never reads a
// deleted chunk where the writer has since made a new one.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// Refresh brings a ReadOnly Manager up to date with the dataset's writer.
// A reader follows a live writer without it (see [Options.ReadOnly]);
// Refresh is for an explicit point in time: when it returns, the reader has
// checked every chunk file it holds open against the directory, and Size
// and Start are at least as new as the writer's when Refresh was called.
// Where no writer has the dataset open since the machine started (and the
// reader therefore follows the last record Sync wrote), Refresh reads the
// manifest again, and starts following a writer that has opened the
// dataset since. Chunks the writer deleted are unmapped (or, if pinned,
// once released). A reader whose state page another program wrote over or
// cut (its calls fail with ErrCorrupt) follows the manifest's records from
// a Refresh on, if they are whole: its Size and Start are then the newest
// record's, which the writer's Sync writes (and a Truncate or DropBefore
// that deletes chunks), and may be older than the writer's. On a
// read-write Manager Refresh does nothing.
func (m *Manager) Refresh() error {
	if !m.live.Load() {
		return m.errorf("refresh", whole, ErrClosed, "")
	}
	if !m.opts.ReadOnly {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.live.Load() {
		return m.errorf("refresh", whole, ErrClosed, "")
	}
	if !m.follows.Load() && m.mfile == nil {
		// Opened on a version 1 manifest: a writer may have rewritten it
		// as version 2 since, with a state page to follow.
		if mfl, err := openManifestFile(m.fsys, m.dir, false); err == nil {
			m.mfile = mfl
			m.shared = &sharedPage{p: mfl.st}
			m.follows.Store(true)
			// Open batches cached bytes as of a dataset that did not
			// change; from now on each of their calls follows.
			m.shrinks.Add(1)
		}
	}
	if m.follows.Load() {
		if err := m.mfile.stillNamed(m.fsys); err != nil {
			return m.wrapErr("refresh", whole, err)
		}
		held := m.heldIndexesLocked()
		seen := m.seen.Load()
		m.seen.Store(midFollow) // makes followLocked check every open file,
		m.mu.cutsID = 0         // by its name
		followed, err := m.followLocked()
		if !followed {
			m.seen.Store(seen) // nothing was checked: the epoch seen stands
		}
		if errors.Is(err, errPageGone) {
			err = nil // the records say what the dataset is (below)
		}
		if err == nil && followed {
			err = m.checkHeldLocked(held)
		}
		if err != nil {
			return m.wrapErr("refresh", whole, err)
		}
		if followed {
			return nil
		}
	}
	// The writer records a Size before it deletes chunks and after it
	// creates them, so a chunk the record needs can vanish only if a
	// Truncate or DropBefore ran since it was read: read it again then.
	var err error
	for range 3 {
		var ms manifestState
		if ms, err = readManifest(m.fsys, m.dir); err != nil {
			return m.wrapErr("refresh", whole, err)
		}
		mf := ms.mf
		if mf.chunkSize != m.chunkSize {
			return m.errorf("refresh", whole, ErrCorrupt, fmt.Sprintf("chunk size changed from %d to %d", m.chunkSize, mf.chunkSize))
		}
		var n int64
		if n, err = m.countChunks(mf); err == nil {
			m.applyLocked(mf, n)
			m.followedLive.Store(false) // it follows the records now
			return nil
		}
	}
	return m.wrapErr("refresh", whole, err)
}

// heldIndexesLocked returns the chunks a reader has open: mapped, or with
// a descriptor kept for pread.
//
// REQUIRES: m.mu held.
func (m *Manager) heldIndexesLocked() []int64 {
	idxs := make([]int64, 0, m.mu.lru.Len()+len(m.mu.fds))
	for _, mp := range m.mu.lru.Values() {
		idxs = append(idxs, mp.index)
	}
	for idx := range m.mu.fds {
		idxs = append(idxs, idx)
	}
	return idxs
}

// checkHeldLocked checks, for Refresh, the chunks in held that a reader had
// open before it followed the writer and that [Start, Size) still needs: a
// writer deletes whole chunk files (moving the epoch first) and never
// resizes one, so a file missing, of the wrong size or not a regular file
// there is another program's doing, ErrCorrupt. If the epoch moved while
// they were checked, a writer is at work and nothing is reported: the next
// call follows it.
//
// REQUIRES: m.mu held.
func (m *Manager) checkHeldLocked(held []int64) error {
	lo, hi := m.mu.first, m.mu.first+m.mu.nchunks
	for _, idx := range held {
		if idx < lo || idx >= hi {
			continue
		}
		path := m.chunkPath(idx)
		fi, err := m.fsys.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			err = fmt.Errorf("%w: chunk file %s was removed, and Size %d needs it", ErrCorrupt, path, m.state().size.Load())
		case err != nil:
			err = fmt.Errorf("stat chunk file %s: %w", path, unpath(path, err))
		default:
			err = checkChunkFile(path, fi, m.chunkSize)
		}
		if err != nil {
			if ps, ok := m.shared.load(m.boot); ok && ps.epoch != m.seen.Load() {
				return nil
			}
			return err
		}
	}
	return nil
}

// followedRead runs read, a read of a following reader (ReadAt, Gather, an
// atomic load) that returns the end of the bytes it read (0 for none, as
// after an error that voids them), until nothing the writer did during it
// can have changed those bytes, and returns read's error as it is, with ok
// set. The writer moves the epoch after every cut of Size (a Truncate),
// before any growth after it can zero the bytes cut off or write them
// anew, so a read stands if the epoch did not move under it and the page's
// Size still covers its bytes (within an epoch that Size only grows, so a
// read past it used a Size raised from before a cut: see pullEpoch). The
// epoch also moves for changes that leave the read's bytes alone (a
// DropBefore, a Truncate past them): a read stands too if the page's Size
// covered its bytes as its try began and every cut since left them in (the
// state page tells the lowest Size the cuts since any one of them left, or
// a bound below it: cutLows); a read that failed with nothing read stands
// only in the first case, since its error may come from the writer's
// change (a chunk file it deleted), or if it found its offset at or past
// Size (io.EOF). Otherwise it is made again, under the new Start and Size.
// A read made with no writer to follow stands, unless a writer set the
// page up during it (writerCame). A writer that cuts into the bytes during
// each of followTries reads makes followedRead return ErrOutOfRange, as a
// read racing a shrink may, and ok false: what read returned is to be
// discarded. (The writer's own reads are guarded by its shrink epoch: see
// slots.go.)
func (m *Manager) followedRead(op string, s span, read func() (end int64, err error)) (ok bool, err error) {
	pullExact := false
	for range followTries {
		atRace(siteFollowPull)
		id0, c0, size0, marked := m.shared.cutMark()
		var e uint64
		var live bool
		if pullExact {
			e, live, err = m.pullLocked()
		} else {
			e, live, err = m.pullEpoch()
		}
		if err != nil {
			return false, m.wrapErr(op, s, err)
		}
		if !live && !m.live.Load() {
			// The reader's own Close came during the call, and a pull
			// takes nothing from the page after it: the reader's Size
			// is of its last pull, which an Append its writer made
			// since may have passed. Read with it, this read would say
			// io.EOF of bytes the dataset holds.
			return false, m.errorf(op, s, ErrClosed, "")
		}
		if !live {
			// No writer to follow as the read began, so nothing
			// changes under it, unless the first writer of the boot
			// opens meanwhile: it sets the page up (the epoch moves
			// from e) and may cut the dataset and grow it again before
			// the read reaches a chunk it has not opened, which it then
			// opens as the writer has it, beside the old bytes of those
			// it had. The read is then made again, following the
			// writer.
			_, err = read()
			if !m.writerCame(e) {
				return true, err
			}
			continue
		}
		end, err := read()
		now, size, ok := m.shared.epochSize()
		if !ok && m.shared.unmapped.Load() {
			// The reader's own Close took the page away during the
			// read (Windows: detach_windows.go): nothing tells whether
			// the writer cut the bytes meanwhile, and the read
			// overlapped Close.
			return false, m.errorf(op, s, ErrClosed, "")
		}
		if !ok || now == e && end <= size {
			return true, err
		}
		// An error (nothing read: end 0) stands only if the epoch did
		// not move: it may be of the writer's change (a file it deleted).
		if marked && end > 0 && end <= size0 && m.shared.uncut(id0, c0, end) {
			return true, err
		}
		if end == 0 && errors.Is(err, io.EOF) {
			// Nothing read because the offset was at or past Size
			// when the read looked, whatever the writer did after.
			return true, err
		}
		// Within an epoch the page's Size only grows, so a read past it
		// used a Size raised from before a shrink (see pullEpoch): the
		// next try takes the exact one.
		pullExact = now == e
	}
	return false, m.errorf(op, s, ErrOutOfRange, fmt.Sprintf("the writer cut the dataset into the bytes read during each of %d tries", followTries))
}

// writerCame reports whether a writer to follow has set the shared state
// page up since a pull found none to follow, with the page's epoch at e
// (pullEpoch): a writer's Open moves the epoch when it sets the page up.
// A closed reader has none to follow.
func (m *Manager) writerCame(e uint64) bool {
	ps, ok := m.shared.load(m.boot)
	return ok && m.live.Load() && m.followable(ps) && ps.epoch != e
}

// followTries is how many times followedRead tries a read.
const followTries = 8

// followPiece is the most bytes a following reader's ReadAt reads under
// one epoch of the writer (followedRead): a few microseconds of copying.
const followPiece = 256 << 10

// readFollowed is readAt for a following reader: a piece at a time, each
// read under one epoch of the writer, with the chunk files the writer
// deleted let go before it reads through any of them. A read that a
// Truncate overtakes stops at the new Size, with io.EOF, after the pieces
// before it; so does one that runs out of tries, with ErrOutOfRange.
//
// Each piece stands on its own (followedRead), but a cut of the writer's
// between two pieces, and the growth after it, may reach bytes an earlier
// piece read: that piece has the bytes from before the cut, the next ones
// the growth's zeros or what was written there after it. So a read of
// several pieces notes the writer's cuts as it begins (markRead) and, at
// its end, keeps the bytes below the lowest Size a cut since then left
// (those no cut reached), with io.EOF if that is short of what it read, as
// a read that met the cut stops there; where the page cannot tell, or
// tells only a bound below the lowest Size (cutsOlder) that falls within
// the bytes read, the read is made again, followTries times at most.
func (m *Manager) readFollowed(p []byte, off int64) (int, error) {
	if len(p) <= followPiece {
		return m.readFollowedPieces(p, off)
	}
	for range followTries {
		rm := m.shared.markRead()
		n, err := m.readFollowedPieces(p, off)
		low, exact, ok := m.shared.lowestSince(rm)
		switch {
		case !ok && err != nil && err != io.EOF:
			// Not known to stand, and failed: the pieces' own error,
			// with none of their bytes.
			return 0, err
		case !ok:
			continue
		case low >= off+int64(n):
			return n, err
		case !exact:
			// A bound: no cut need have come to low, so the read
			// cannot end there.
			continue
		case low > off:
			return int(low - off), io.EOF
		}
		// The cut went below off: Size may have grown back over it since,
		// and the read made again reads what stands there now.
	}
	return 0, m.errorf("read", at(off, int64(len(p))), ErrOutOfRange, fmt.Sprintf("the writer cut the dataset into the bytes read, or so often that its record of cuts could not tell, during each of %d tries", followTries))
}

// readFollowedPieces is readFollowed's read of p, a piece at a time.
func (m *Manager) readFollowedPieces(p []byte, off int64) (int, error) {
	n := 0
	for {
		piece := p[n:min(len(p), n+followPiece)]
		o := off + int64(n)
		var k int
		// Errors name the call, not the piece: its caller knows no
		// pieces.
		ok, err := m.followedRead("read", at(off, int64(len(p))), func() (int64, error) {
			var err error
			if k, err = m.readIn(piece, o, at(off, int64(len(p)))); k == 0 {
				return 0, err // nothing read: nothing to check
			}
			return o + int64(k), err
		})
		if !ok {
			return n, err
		}
		if n += k; err != nil || n == len(p) {
			return n, err
		}
	}
}

// follow is pull for the calls other than ReadAt that read Start, Size or
// chunks (Pin, Gather, the atomics, Batch, Advise): for a following reader
// it takes the writer's current Start and Size, and lets go of chunk files
// the writer deleted, before the call uses them; for a writer it costs one
// atomic load.
func (m *Manager) follow(op string, s span) error {
	if !m.follows.Load() {
		return nil
	}
	return m.wrapErr(op, s, m.pull())
}

// pull brings a following reader's Start and Size up to date with the
// shared state page, lock-free while the epoch has not moved.
func (m *Manager) pull() error {
	_, _, err := m.pullEpoch()
	return err
}

// pullEpoch is pull, and returns the writer's epoch as of which the
// reader's Start and Size now are; live is false if there is no writer to
// follow (or the reader is closed), so that nothing shrinks under a read,
// and epoch is then the page's as it was found so (see writerCame).
func (m *Manager) pullEpoch() (epoch uint64, live bool, err error) {
	if !m.live.Load() {
		return 0, false, nil // the values of Close's moment stay
	}
	ps, ok := m.shared.load(m.boot)
	if !ok || !m.followable(ps) {
		// Nothing to follow (a page of an earlier boot, or one that
		// faults): followLocked would change nothing, so take no lock.
		return ps.epoch, false, m.pageGone(ps, ok)
	}
	if e, ok := m.raiseFollowed(ps); ok {
		return e, true, nil
	}
	return m.pullLocked()
}

// raiseFollowed is pullEpoch's lock-free path: if ps, a followable page
// just loaded, is of the epoch the reader last took under the lock, with
// the same Start, it raises the reader's Size to the page's and reports
// true. Within an epoch Size only grows (but for the moment a Truncate
// takes between storing the cut Size and moving the epoch), so it raises
// Size, never lowers it: concurrent pulls that loaded in one order and
// store in another cannot take it back. A raise checks seen after it loads
// the Size it replaces, so one that loaded a Size takePageLocked replaces
// meanwhile fails its compare-and-swap: takePageLocked sets seen to
// midFollow before it loads the page and stores the page's epoch only
// after its Start and Size. One that still lands (its goroutine stopped
// between the check of seen and the compare-and-swap while a whole
// takePageLocked ran, which stored the very value the raise loaded: the
// writer cut Size back to it) finds seen moved and reports false, so the
// caller takes the locked path, which stores the exact value again; if
// that take found the cut still in the epoch the raise loaded (a Truncate
// stores Size before it moves the epoch), the raise stands like any raise
// from just before a cut. Until the next pull the larger Size stands:
// followedRead checks every read against the page's epoch and Size after
// it, but a Pin or a Batch in that window may be given bytes past the
// cut, as they were before it. A page whose Size is below the reader's
// sends the pull to the locked path: otherwise a writer killed between
// storing a cut Size and moving the epoch, which nothing moves after it
// until the next writer opens, left the reader's Size, Pins and Batches
// past the cut for as long.
func (m *Manager) raiseFollowed(ps pageState) (epoch uint64, ok bool) {
	st := m.state()
	if !ps.stable || ps.epoch == midFollow || ps.epoch != m.seen.Load() || ps.start != st.start.Load() {
		return 0, false
	}
	for {
		cur := st.size.Load()
		if ps.size < cur {
			// The page says less within the epoch: a Truncate stored the
			// cut Size and has not moved the epoch yet, and may never
			// (its writer died there), or a raise from a later load came
			// first. The locked path stores the exact value.
			return 0, false
		}
		if ps.size == cur || m.seen.Load() != ps.epoch || st.size.CompareAndSwap(cur, ps.size) {
			break
		}
	}
	return ps.epoch, m.seen.Load() == ps.epoch
}

// takePageHook, if not nil, runs in takePageLocked (a test's race, made to
// order): with stage takeLoaded once it has loaded the page, when it may
// change what was loaded, and with stage takeStoring as it is about to
// store Start and Size.
var takePageHook func(stage int, ps *pageState)

// Stages of takePageLocked at which takePageHook runs.
const (
	takeLoaded = iota
	takeStoring
)

// midFollow is the value of seen while takePageLocked takes the page's
// Start and Size, and before the first take: no epoch a writer makes
// (newEpoch gives values below 2^63, and a dataset would need 2^63 cuts to
// reach it), so every lock-free raise fails until the new values are in,
// and the next take finds the epoch moved.
const midFollow = ^uint64(0)

// pullLocked is pull's locked path: followLocked stores the page's exact
// Start and Size. Its results are pullEpoch's.
func (m *Manager) pullLocked() (epoch uint64, live bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.live.Load() {
		return 0, false, nil
	}
	ps, live, err := m.followPageLocked()
	if !live {
		return ps.epoch, false, err
	}
	return m.seen.Load(), true, err
}

// followLocked brings a following reader's Start, Size, open chunk files
// and count of chunk files up to date with the shared state page: if the
// epoch moved, it closes the files that are gone or were replaced; then it
// looks for chunk files up to where Size needs them. It reports false when
// the page is not one to follow (no writer has set it up since the machine
// started, or the page faults), with pageGone's error if the reader
// followed it before; Start and Size then stay as they are, and only chunk
// files they need that the reader has not looked for yet are looked for.
//
// REQUIRES: m.mu held; m.follows.Load().
func (m *Manager) followLocked() (bool, error) {
	_, followed, err := m.followPageLocked()
	return followed, err
}

// followPageLocked is followLocked, and also returns the page as
// takePageLocked loaded it.
//
// REQUIRES: m.mu held; m.follows.Load().
func (m *Manager) followPageLocked() (pageState, bool, error) {
	ps, followed, err := m.takePageLocked()
	if err != nil || !followed {
		return ps, false, err
	}
	// A writer that deleted a chunk since the page was read (and may be
	// making it anew, empty at first) moved the epoch first: then a file
	// that fails the check means this view is stale, not the file bad, and
	// the next pull takes the new one.
	return ps, true, m.findChunksLocked(chunksFor(ps.size, m.shift), func() bool {
		now, ok := m.shared.load(m.boot)
		return ok && now.epoch != ps.epoch
	})
}

// takePageLocked is followLocked up to the look for chunk files: it takes
// the page's Start, Size and epoch, and lets go of the files the writer
// deleted if the epoch moved. If the page is not one to follow it looks
// for the chunk files Size needs and returns followed false.
//
// Lock-free raises of Size (raiseFollowed) stop while it runs: it sets
// seen to midFollow before it loads the page, and stores the page's epoch
// only after its Start and Size. So every raise that lands meanwhile used
// a page loaded before this one: of the same epoch it raised Size to at
// most the page's, which this stores, unless the writer cut Size since
// (and the bytes past the cut are gone anyway); of one before, it finds
// seen moved and its caller comes here after. Size stored as the page has
// it then never takes back a raise that a reader already reads by: a
// reader that appended and then read its bytes would otherwise find them
// past Size.
//
// REQUIRES: m.mu held; m.follows.Load().
func (m *Manager) takePageLocked() (ps pageState, followed bool, err error) {
	seen := m.seen.Load()
	m.seen.Store(midFollow)
	defer func() { m.seen.Store(seen) }()
	// Before the page: every cut counted as done is then in the Size
	// loaded next (keptBelowLocked).
	cutsID, cutsDone, cutsOK := m.shared.cutsDeletedCount()
	ps, ok := m.shared.load(m.boot)
	if takePageHook != nil {
		takePageHook(takeLoaded, &ps)
	}
	if !ok || !m.followable(ps) {
		if err := m.pageGone(ps, ok); err != nil {
			return ps, false, err
		}
		// Not followed (any more): the reader keeps its Start and Size,
		// which a lock-free pull may have raised past the chunk files it
		// looked for, so it looks for those Size needs, as Open does. A
		// writer it does not follow may be making one of them anew (an
		// empty file at first): the look stops at a file that fails the
		// check, with no error, and a read there reports the file.
		return ps, false, m.findChunksLocked(chunksFor(m.state().size.Load(), m.shift), func() bool { return true })
	}
	first := ps.start >> m.shift
	need := chunksFor(ps.size, m.shift)
	if ps.start < 0 || ps.start != first<<m.shift || ps.size < ps.start {
		// No writer leaves these: another program wrote over the page,
		// as over one whose magic is gone (pageGone), and a reader
		// that follows the records since (Refresh) keeps to them until
		// a writer writes the page whole again.
		if !m.followedLive.Load() {
			return ps, false, m.findChunksLocked(chunksFor(m.state().size.Load(), m.shift), func() bool { return true })
		}
		return ps, false, fmt.Errorf("%w: manifest %s: state page: start %d, size %d: %w", ErrCorrupt,
			filepath.Join(m.dir, ManifestName), ps.start, ps.size, errPageGone)
	}
	m.followedLive.Store(true)
	st := m.state()
	// A page whose epoch moved while it was loaded may hold the Start and
	// Size of a later epoch than the one it names, after deletions that
	// one does not show: its files are looked at as after a move, and the
	// epoch stored is the earlier, so the next pull takes the page again.
	if ps.epoch != seen || !ps.stable || first != m.mu.first {
		kept := m.keptBelowLocked(cutsID, cutsDone, cutsOK)
		gone := func(idx int64, f *chunk.File) bool {
			switch {
			case idx < first, idx >= need:
				// Past Size the writer may replace a file without
				// a cut: one an unlink left, growth's spare ones.
				return true
			case kept >= 0:
				return idx >= kept
			default:
				return m.replaced(f)
			}
		}
		for _, mp := range m.mu.lru.Values() {
			if gone(mp.index, mp.file) {
				m.dropLocked(mp, true)
			}
		}
		for idx, e := range m.mu.fds {
			if gone(idx, e.f) {
				m.dropFdLocked(idx)
			}
		}
		known := max(first, min(m.mu.first+m.mu.nchunks, need))
		m.forgetBelowLocked(first) // after dropLocked, which hands counts back
		m.mu.first, m.mu.nchunks = first, known-first
		m.shrinks.Add(1)
		m.deletions.Add(1)
	}
	if takePageHook != nil {
		takePageHook(takeStoring, &ps)
	}
	// Order matters to lock-free readers: shrink the range they may read
	// before widening it.
	if ps.size < st.size.Load() {
		st.size.Store(ps.size)
	}
	st.start.Store(ps.start)
	st.size.Store(ps.size)
	seen = ps.epoch
	return ps, true, nil
}

// findChunksLocked looks for the chunk files from the first the reader does
// not know up to chunk need (exclusive), counting each it finds in
// m.mu.nchunks. It stops at the first that does not exist (deleted since
// Size was read: the epoch says so next time), and at the first that is
// not a chunk file of the right size if stale reports that the reader's
// view is out of date; otherwise that file is its error.
//
// REQUIRES: m.mu held.
func (m *Manager) findChunksLocked(need int64, stale func() bool) error {
	for idx := m.mu.first + m.mu.nchunks; idx < need; idx++ {
		path := filepath.Join(m.dir, chunk.Name(idx))
		fi, err := m.fsys.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil {
			err = checkChunkFile(path, fi, m.chunkSize)
		}
		if err != nil {
			if stale() {
				return nil
			}
			return err
		}
		m.mu.nchunks++
	}
	return nil
}

// pageGone is the error of a follower whose state page ps is no longer one
// to follow (ok false: it faults), nil if it never was. A page a live
// writer set up keeps its magic until the machine restarts, whatever the
// writer does (a crash, a clean Close, a writer of another process opening
// after it): only another program that cuts the manifest file or writes
// over the page takes it away. The reader then cannot tell the writer's
// Start and Size, nor which chunk files it deleted, and every call that
// would use them fails with ErrCorrupt (Size and Start return the last
// values), until a Refresh reads the manifest's records, where they are
// whole, and the reader follows those, or the writer writes the page whole
// again (its next change of Size or Start does, or its next Sync). A page
// whose magic stands under another boot ID (a writer whose platform told
// the boot apart from the reader's: Windows computes it from the clock)
// only stops being followed, as before the reader followed it.
func (m *Manager) pageGone(ps pageState, ok bool) error {
	// A closed reader's page is a copy of what it was at Close, and for
	// an instant, where the system cannot swap it in one step, zeros
	// (detachMapping): not a page another program wrote over.
	if !m.followedLive.Load() || ok && ps.magic || !m.live.Load() {
		return nil
	}
	// A page that faults need not be another program's doing: a device
	// or file system that fails under the reader faults it too.
	how := "was written over by another program"
	if !ok {
		how = "cannot be read (another program cut the file short, or the device or file system failed)"
	}
	return fmt.Errorf("%w: manifest %s: the state page %s while this reader followed its writer: %w",
		ErrCorrupt, filepath.Join(m.dir, ManifestName), how, errPageGone)
}

// errPageGone marks pageGone's errors, which Refresh answers by reading
// the manifest's records.
var errPageGone = errors.New("a Refresh reads the manifest's records")

// keptBelowLocked returns, for followLocked, the first chunk whose file
// the writer may have deleted since this reader last reconciled, or -1 if
// the shared page cannot tell; id and done are the page's numbering of
// cuts and count of cuts whose files are gone, and ok whether it gave
// them, as loaded before the page's Start and Size.
//
// Within [Start, Size) the writer deletes chunk files only when it cuts
// Size: a Truncate records the cut before the epoch moves and the files
// go. (A writer's Open removes the files past Size that a crash left, and
// sets the page up with a new numbering, which has no answer for the
// reader; past Size the writer also replaces files without a cut, where an
// unlink left one or growth has spare ones: followLocked lets go of every
// file there.) So the chunks below the lowest Size the cuts since the last
// reconcile left kept their files, and the reader keeps them without a
// look at each name, which would cost a system call per chunk it holds
// (beside a writer that cut the end of the dataset every hundred
// microseconds, those looks took so long that long reads failed: see
// followedRead). Chunks from there on are let go: the bytes they held were
// cut off. The first reconcile, one the page cannot answer (another
// numbering, a writer stopped inside a change of it, the record of a
// writer of an earlier version that no longer reaches back) and Refresh's
// look at every name.
//
// The cuts looked at are those from the first whose files were not yet
// gone at the last reconcile: a cut not counted as done may not have
// deleted its files yet, so the next reconcile looks at it again; one
// counted as done was counted before this reconcile loaded Size, so the
// Size the reader takes is at or below it, or above it only through growth
// that came after the deletion (and replaced any file an unlink left).
//
// REQUIRES: m.mu held.
func (m *Manager) keptBelowLocked(id, done uint64, ok bool) int64 {
	if !ok {
		m.mu.cutsID = 0
		return -1
	}
	low, known := int64(0), false
	if m.mu.cutsID == id {
		// A bound will do: the chunks below it kept their files.
		low, _, known = m.shared.lowestCut(id, m.mu.cutsSeen)
	}
	m.mu.cutsID, m.mu.cutsSeen = id, done
	switch {
	case !known:
		return -1
	case low == math.MaxInt64:
		return math.MaxInt64 // no cut: every file is the one opened
	default:
		return chunksFor(low, m.shift)
	}
}

// openFollowed is openChunk for a chunk a following reader needs. The
// writer may have deleted the chunk (Truncate, DropBefore), and be making
// it anew, since this reader last took its state: it moves the epoch before
// it deletes. So a file is used only if the epoch had not moved when it was
// opened; otherwise, or if the open failed (a writer opening after a crash
// removes chunk files past Size before it moves the epoch), the reader
// takes the state again and tries again, three times at most. A chunk then
// outside [Start, Size) is ErrOutOfRange, as a range that a concurrent
// Truncate moved is for the writer itself. A file opened as the epoch
// moved may be a chunk made anew after the state the reader has, and cut
// since: the third such file is used only if it is still under its name
// after the reader took the state again, and otherwise, as when the writer
// deleted the chunk during each try, the chunk is ErrOutOfRange too. A
// file missing while the epoch stood still is the open's error.
//
// REQUIRES: m.mu held.
func (m *Manager) openFollowed(idx int64, mode chunk.Mode) (*chunk.File, error) {
	if !m.follows.Load() {
		return m.openChunk(idx, mode)
	}
	for tries := 1; ; tries++ {
		seen := m.seen.Load()
		f, err := m.openChunk(idx, mode)
		if err == nil && m.mfile != nil {
			// The dataset may have been removed and made anew under
			// the same directory: its chunk files are not this one's.
			if merr := m.mfile.stillNamed(m.fsys); merr != nil {
				return nil, errors.Join(merr, f.Close())
			}
		}
		ps, ok := m.shared.load(m.boot)
		if err == nil && (!ok || !m.followable(ps) || ps.epoch == seen) {
			return f, nil
		}
		if err == nil && tries < 3 {
			// Perhaps the chunk made anew, after the state this reader
			// took and perhaps cut since: that state cannot vouch for
			// it. Take the state first.
			f.Close()
			f = nil
		}
		if _, ferr := m.followLocked(); ferr != nil {
			return nil, closeFile(f, ferr)
		}
		st := m.state()
		if start, size := st.start.Load(), st.size.Load(); idx < start>>m.shift || idx >= chunksFor(size, m.shift) {
			return nil, closeFile(f, fmt.Errorf("%w: chunk %d lies outside start %d and size %d now (the writer truncated or dropped it meanwhile)",
				ErrOutOfRange, idx, start, size))
		}
		if tries == 3 {
			if f != nil && !m.replaced(f) {
				// The writer keeps cutting: the file is still under
				// its name after the state just taken, which vouches
				// for it.
				return f, nil
			}
			if f != nil || m.seen.Load() != seen {
				// The writer deleted the chunk during each open.
				return nil, closeFile(f, fmt.Errorf("%w: the writer deleted chunk %d while it was opened, each of %d times", ErrOutOfRange, idx, tries))
			}
			return nil, err
		}
	}
}

// closeFile closes f, if not nil, and returns err: a file opened and not
// to be used.
func closeFile(f *chunk.File, err error) error {
	if f != nil {
		f.Close()
	}
	return err
}

// followable reports whether a reader may take Start and Size from the
// shared state page ps: if a writer of this boot set it up (and may have
// closed the dataset since). A page from an earlier boot is not followed,
// even one a writer closed cleanly: a power loss may have written the
// newest record without the page, so the record is what Open checked the
// chunk files against, and what the reader keeps until a writer opens.
func (m *Manager) followable(ps pageState) bool {
	return ps.live
}

// bumpEpochLocked advances the shared page's epoch, before the writer
// deletes chunk files (see followLocked).
//
// REQUIRES: m.mu held.
func (m *Manager) bumpEpochLocked() {
	if m.shared != nil {
		m.shared.bumpEpoch()
	}
}

// countChunks checks the chunk files that mf needs, from mf.first up to
// the chunk holding its last byte, as a ReadOnly Open checks them, and
// returns how many that is. Names past mf.size are not looked at: like
// Open, a reader leaves them alone, since they hold nothing of the dataset
// (a writer's spare chunks from Grow, a short or empty file a crash during
// growth left, or something another program put there).
func (m *Manager) countChunks(mf manifest) (int64, error) {
	need := chunksFor(mf.size, m.shift)
	idx := mf.first
	// Chunks checked before stay up to where mf.size needs them (the writer
	// creates chunks before it records a Size covering them, and deletes
	// them after it records one that does not); past that a Truncate may
	// have deleted them.
	if known := min(m.mu.first+m.mu.nchunks, need); mf.first >= m.mu.first && known > idx {
		idx = known
	}
	check := func(idx int64) error {
		path := filepath.Join(m.dir, chunk.Name(idx))
		fi, err := m.fsys.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%w: chunk file %s is missing (size %d)", ErrCorrupt, path, mf.size)
		case err != nil:
			return fmt.Errorf("stat chunk file %s: %w", path, unpath(path, err))
		}
		return checkChunkFile(path, fi, m.chunkSize)
	}
	// The chunks the reader holds open below those are looked at all the
	// same: Refresh vouches for every file it holds, and another program
	// may have removed, cut or replaced one (as checkHeldLocked does for a
	// reader that follows a live writer).
	for _, h := range m.heldIndexesLocked() {
		if h >= mf.first && h < idx {
			if err := check(h); err != nil {
				return 0, err
			}
		}
	}
	for ; idx < need; idx++ {
		if err := check(idx); err != nil {
			return 0, err
		}
	}
	return need - mf.first, nil
}

// applyLocked adopts the recorded state mf with n chunk files from mf.first,
// retiring the mappings and closing the cached files of chunks that are gone
// or were replaced.
func (m *Manager) applyLocked(mf manifest, n int64) {
	for _, mp := range m.mu.lru.Values() {
		if mp.index < mf.first || mp.index >= mf.first+n || m.replaced(mp.file) {
			m.dropLocked(mp, true)
		}
	}
	for idx, e := range m.mu.fds {
		if idx < mf.first || idx >= mf.first+n || m.replaced(e.f) {
			m.dropFdLocked(idx)
		}
	}
	m.shrinks.Add(1)
	m.deletions.Add(1)
	m.forgetBelowLocked(mf.first)
	m.mu.first = mf.first
	m.mu.nchunks = n
	// Order matters to lock-free readers: shrink the range they may read
	// before widening it.
	st := m.state()
	st.start.Store(mf.first << m.shift)
	if mf.size < st.size.Load() {
		st.size.Store(mf.size)
	}
	st.size.Store(mf.size)
	m.mu.reserved = mf.size
	m.mu.durable = mf
}

// replaced reports whether the open chunk file f (mapped, or cached for
// pread) is no longer the file under its name: the writer deleted it with a
// Truncate, and may have created a new one there since, which the manifest
// alone cannot show, or another program replaced it (which Refresh looks
// for). f keeps the old file open, so its inode cannot be reused.
func (m *Manager) replaced(f *chunk.File) bool {
	_, err := chunk.SameFile(m.fsys, f.Path(), f.Info())
	return err != nil
}

// pageErrLocked reports an error if the writer's Start and Size are not in
// the shared state page, where a crash of the process cannot lose them: a
// fault hit the page since it last took them. It first writes them there
// again, and returns nil if that works. made says that the caller's change
// of Size or Start is made in this process already: a full disk is then
// ErrIO, as every other cause is, with the system's error in the chain,
// because ErrNoSpace promises a dataset left as it was, to be retried (an
// Append retried so would be appended twice). A call that asks before it
// changes anything (made false) is refused with ErrNoSpace there.
//
// REQUIRES: m.mu held (it writes the values of the latest change).
func (m *Manager) pageErrLocked(made bool) error {
	if m.shared == nil || !m.shared.broken.Load() {
		return nil
	}
	if m.shared.unmapped.Load() {
		// Close ran after the caller's check of live (an Append that
		// checked before it waited for resize, say), and a fault on
		// the page it unmapped marked the page broken: not the file's
		// doing.
		return ErrClosed
	}
	st := m.state()
	if m.shared.restore(m.boot, st.start.Load(), st.size.Load()) {
		m.mu.pageSynced = [2]int64{-1, -1} // the page on disk is whatever was written over it
		return nil
	}
	path := m.mfile.f.Name()
	if fi, err := m.mfile.f.Stat(); err == nil && fi.Size() < manifestLen {
		return fmt.Errorf("%w: manifest %s was truncated to %d bytes by another program: Start and Size cannot be recorded", ErrCorrupt, path, fi.Size())
	}
	if err := m.pageCause(); err != nil {
		sentinel := ErrIO
		if isSpaceErr(err) && !made {
			sentinel = ErrNoSpace
		}
		return fmt.Errorf("%w: manifest %s: its state page cannot be written: %w: a crash of the process would lose the change", sentinel, path, unpath(path, err))
	}
	return fmt.Errorf("%w: manifest %s: its state page cannot be written (the system refuses writes to the file, or the device failed): a crash of the process would lose the change", ErrIO, path)
}

// pageCause returns the system's error for the stores into the state page
// that faulted: a pwrite of the page's magic as it stands, which changes
// nothing (under mu nothing else writes it), fails as they did: EPERM for
// a manifest made immutable, EIO from a failed device, and ENOSPC on a
// full copy-on-write file system (btrfs), which needs new blocks for
// every write-back, so that the caller can tell a full disk (ErrNoSpace:
// free space) from the rest. nil if the pwrite works.
//
// REQUIRES: m.mu held.
func (m *Manager) pageCause() error {
	off := int64(stateOff) + int64(unsafe.Offsetof(statePage{}.magic))
	var b [len(stateMagic)]byte
	if _, err := m.mfile.f.ReadAt(b[:], off); err != nil {
		return err
	}
	_, err := m.mfile.f.WriteAt(b[:], off)
	return err
}

// pageErr is pageErrLocked for a caller not holding m.mu, whose change is
// made; it takes no lock while the page is whole.
func (m *Manager) pageErr() error {
	if m.shared == nil || !m.shared.broken.Load() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pageErrLocked(true)
}

// mirrorSizeLocked copies a writer's new Size into the shared state page,
// before the call that changed it returns.
//
// REQUIRES: m.mu held (mirrored values follow each other in order).
func (m *Manager) mirrorSizeLocked(size int64) {
	if m.shared != nil {
		m.shared.setSize(size, m.state().start.Load())
	}
}
