package chunkmap

// This file holds the fault-guarded access to the manifest's shared state
// page (see manifest.go).
//
// The page is a mapping of the manifest file, which another program could
// truncate; a load or store through it would then raise SIGBUS and, without
// a guard, kill the process. So the Manager never touches it on its hot
// paths: its own Start and Size live in a private statePage (Manager.st),
// the writer mirrors every change into the shared page here, under a guard,
// and a reader copies the shared values into its own under a guard too. A
// fault marks the page broken: a reader then stops following; the writer
// fails every call whose change the page could not take (a crash of the
// process would lose it), and retries the page at each such call and at
// Sync (pageErrLocked), so that it works again once the cause is gone.

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// sharedPage is the mapped state page of the manifest file.
type sharedPage struct {
	p      *statePage
	broken atomic.Bool // a fault hit the page: the file was truncated, made read-only, or failed
	// unmapped says that Close has unmapped the page, or is about to
	// (detach_windows.go): its address may now be the system's, or
	// memory it handed to someone else. Set under the writer's mu (or
	// the reader's) before the page goes, never cleared.
	unmapped atomic.Bool
	// start and size are what the writer last put into the page (setup,
	// restore, setSize, setStart), under its mu: a mirror compares the
	// page with them before it stores (see check).
	start, size int64
	boot        [48]byte // the writer's boot ID, which setup and restore store
}

// Once the page may be unmapped (unmapped: Windows), nothing may store to
// it, and nothing it loads may count. Every access is one of these:
//
//   - A store (setup, cutTo, cutsDeleted, setSize, setStart, restore,
//     bumpEpoch, markClean) and verify, whose check stores broken from
//     what it loads: each first checks unmapped, and each runs under the
//     writer's mu, which Close holds as it sets unmapped and unmaps (setup
//     runs inside Open, before anything else has the Manager, and
//     markClean inside Close, before it unmaps). So no store can come
//     after the unmap: a store into memory the system has since handed to
//     someone else would corrupt it, and no fault guard could tell.
//   - A load (load, epochSize, cutMark, lowestCut, cutsDeletedCount),
//     under mu or lock-free: each checks unmapped after its loads (loaded).
//     Close sets it before the unmap, so a load that came after the unmap
//     (and faulted, which catchPage turns into ok false, or read another
//     owner's bytes) sees it set and returns ok false, as for a fault:
//     the page is not one to follow, which after Close changes nothing
//     (pageGone, pullEpoch and followedRead check live).
//   - The hot paths' pageTaken and pageStill (hot.go), which load through
//     a follower's statePage directly, under hotRead1's or hotAtomic's
//     guard, which recovers a fault at any address: they load the shrink
//     epoch after the page, and Close moves it before it unmaps (see
//     hotRead1).

// catchPage is deferred, with the result of debug.SetPanicOnFault(true), by
// every method that touches the page: a fault marks it broken and makes the
// method report false; any other panic goes on.
func (s *sharedPage) catchPage(prev bool, ok *bool) {
	debug.SetPanicOnFault(prev)
	if r := recover(); r != nil {
		if _, fault := memFault(r); !fault {
			panic(r)
		}
		s.broken.Store(true)
		*ok = false
	}
}

// setup makes the page the live state of a writer of boot with Start and
// Size start and size, in an order a reader in another process can follow:
// a reader trusts the page once magic and boot match, so Start and Size are
// right before they do (and boot before magic), and the epoch moves last,
// to a new random value (newEpoch). It returns the new epoch.
func (s *sharedPage) setup(boot [48]byte, start, size int64) (epoch uint64, ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return 0, false
	}
	p := s.p
	p.clean.Store(0)
	p.start.Store(start)
	p.size.Store(size)
	p.boot = boot
	copy(p.magic[:], stateMagic)
	// The last writer's Size may have been larger; Open removed the
	// files past this one.
	p.restartCuts(size)
	e := newEpoch()
	p.epoch.Store(e)
	s.start, s.size, s.boot = start, size, boot
	return e, true
}

// newEpoch returns a random epoch for a page a writer sets up or writes
// whole again. Readers only compare epochs for equality, and the page may
// have been written over (zeros, say) since a reader took the one it
// holds: counting on from what the page says could come back to that
// value, and the reader would take nothing as changed, keeping chunk files
// the writer has since deleted. A random start leaves room for 2^62 moves
// and meets a reader's old value with a chance of about one in 2^62 per
// move.
func newEpoch() uint64 { return rand.Uint64() >> 1 }

// recordCut records a cut of Size to size (statePage.lows), before the
// epoch moves.
func (p *statePage) recordCut(size int64) {
	c := p.cuts.Load()
	l := &p.lows
	q := l.seq.Load() | 1
	l.seq.Store(q)
	n := min(l.n.Load(), cutLowsCap)
	for n > 0 && l.size[n-1].Load() >= size {
		n--
	}
	if n == 0 && l.older.id.Load() == l.id.Load() {
		// Below the stack, the older entries are the lower ones, newest
		// last: those the cut went to or below go too.
		o := &l.older
		k := min(o.n.Load(), cutsOlderCap)
		for k > 0 && o.size[k-1].Load() >= size {
			k--
		}
		o.n.Store(k)
	}
	if n == cutLowsCap {
		if l.older.id.Load() == l.id.Load() {
			l.older.push(l.at[0].Load(), l.size[0].Load())
		}
		l.from.Store(l.at[0].Load() + 1)
		for i := 1; i < cutLowsCap; i++ {
			l.at[i-1].Store(l.at[i].Load())
			l.size[i-1].Store(l.size[i].Load())
		}
		n--
	}
	l.at[n].Store(c)
	l.size[n].Store(size)
	l.n.Store(n + 1)
	p.cuts.Store(c + 1)
	l.seq.Store(q + 1)
}

// push adds the entry that leaves a full stack, cut number at of Size
// size, newer and higher than every older entry. Where older is full, the
// two neighbouring older entries whose Sizes lie closest, the older pair on
// a tie, first become one entry with the later number, the lower Size, and
// the older one's upto: only answers for a c0 after the older one's number
// and up to the later one's change, from the higher Size to the lower, by
// as little as a merge of two older entries could change them (in bytes),
// and they become bounds.
//
// REQUIRES: cutLows.seq odd (inside recordCut), o.id the stack's id.
func (o *cutsOlder) push(at uint64, size int64) {
	n := min(o.n.Load(), cutsOlderCap)
	if n == cutsOlderCap {
		best, gap := 0, int64(math.MaxInt64)
		for i := range cutsOlderCap - 1 {
			if g := o.size[i+1].Load() - o.size[i].Load(); g < gap {
				best, gap = i, g
			}
		}
		o.at[best].Store(o.at[best+1].Load())
		for i := best + 1; i < cutsOlderCap-1; i++ {
			o.at[i].Store(o.at[i+1].Load())
			o.size[i].Store(o.size[i+1].Load())
			o.upto[i].Store(o.upto[i+1].Load())
		}
		n--
	}
	o.at[n].Store(at)
	o.size[n].Store(size)
	o.upto[n].Store(at)
	o.n.Store(n + 1)
}

// restartCuts begins a new numbering of cuts (cutLows), under a new id,
// with one cut, of Size to size, counted as done: a writer that sets the
// page up, or writes it whole again, cannot tell whether the last one died
// inside recordCut, or what another program wrote there. Readers then have
// no answer (lowestCut) for cuts before it, and look at every name once.
// (Files past size may not be gone yet, when restore runs inside a
// Truncate, but they are past the Size a reader takes after it loads the
// count, and a reader keeps no file there: followLocked.)
func (p *statePage) restartCuts(size int64) {
	l := &p.lows
	q := l.seq.Load() | 1
	l.seq.Store(q)
	c := p.cuts.Load()
	id := newCutsID()
	l.id.Store(id)
	l.from.Store(c)
	l.at[0].Store(c)
	l.size[0].Store(size)
	l.n.Store(1)
	l.older.id.Store(id)
	l.older.from.Store(c)
	l.older.n.Store(0)
	p.cuts.Store(c + 1)
	l.done.Store(c + 1)
	l.seq.Store(q + 1)
}

// newCutsID returns a random id for a numbering of cuts, never 0.
func newCutsID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

// read runs f, which loads fields of the record, until the writer did not
// change the record meanwhile, and reports whether that happened within a
// few tries: a change takes a fraction of a microsecond, and a writer
// stopped inside one, or dead there, leaves readers no answer until the
// next restartCuts, which each of their reads would otherwise pay for.
func (l *cutLows) read(f func()) bool {
	for range 10 {
		q := l.seq.Load()
		if q&1 != 0 {
			runtime.Gosched() // a cut being recorded: it takes a moment
			continue
		}
		f()
		if l.seq.Load() == q {
			return true
		}
	}
	return false
}

// cutTo records a Truncate's new Size, size, which the page holds already,
// and moves the epoch: readers take the exact values when they see it move.
func (s *sharedPage) cutTo(size int64) (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	s.p.recordCut(size)
	s.p.epoch.Add(1)
	return true
}

// cutsDeleted says that the chunk files of every cut recorded so far are
// gone: unlinked, or, where an unlink failed, left past Size, where a
// reader keeps no file (followLocked).
func (s *sharedPage) cutsDeleted() (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	s.p.lows.done.Store(s.p.cuts.Load())
	return true
}

// cutMark returns the id of the numbering of cuts, how many cuts the
// writer has made and, loaded after them, Size: what followedRead compares
// a read's range with.
func (s *sharedPage) cutMark() (id, cuts uint64, size int64, ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	l := &s.p.lows
	if !l.read(func() { id, cuts = l.id.Load(), s.p.cuts.Load() }) {
		return 0, 0, 0, false
	}
	size = s.p.size.Load()
	return id, cuts, size, id != 0 && s.loaded()
}

// lowestCut returns the lowest Size that a cut the writer made since it
// had made c0, in numbering id, left (math.MaxInt64 if it made none), and
// ok true if the page can tell: the numbering is still id, it records
// cuts from c0 on (cutLows), and the writer is not in the middle of
// recording one for long. Where exact is false, low is a bound: every cut
// since c0 left Size at low or above, but perhaps none at low, so a reader
// may keep the bytes below it, but must not take it for the place of a
// cut.
func (s *sharedPage) lowestCut(id, c0 uint64) (low int64, exact, ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	p := s.p
	l := &p.lows
	o := &l.older
	answered := false
	ok = l.read(func() {
		c1, from, n := p.cuts.Load(), l.from.Load(), l.n.Load()
		low, exact, answered = math.MaxInt64, true, false
		if id == 0 || l.id.Load() != id || n > cutLowsCap || c0 > c1 {
			return
		}
		if c0 < from {
			// Below the stack: the older entries, then the stack.
			k := o.n.Load()
			if o.id.Load() != id || k > cutsOlderCap || c0 < o.from.Load() {
				return
			}
			for i := range k {
				if o.at[i].Load() >= c0 {
					low, exact, answered = o.size[i].Load(), c0 <= o.upto[i].Load(), true
					return
				}
			}
		}
		for i := range n {
			if l.at[i].Load() >= c0 {
				low = l.size[i].Load()
				break
			}
		}
		answered = true
	})
	return low, exact, ok && answered && s.loaded()
}

// readMark is what a following reader's read of several pieces notes of
// the writer's page as it begins (markRead), to learn at its end how far
// the writer's cuts since then reached (lowestSince).
type readMark struct {
	id, cuts uint64 // the cut count, in numbering id (cutMark)
	epoch    uint64 // loaded after them
	marked   bool   // the page numbers its cuts
	ok       bool   // the page could be read
}

// markRead notes the cuts made so far, then the epoch: a cut between the
// two loads came before the read, and is counted as one after it all the
// same (lowestCut from cuts on), which at worst shortens the read.
func (s *sharedPage) markRead() (rm readMark) {
	rm.id, rm.cuts, _, rm.marked = s.cutMark()
	rm.epoch, _, rm.ok = s.epochSize()
	return rm
}

// lowestSince returns the lowest Size that a cut of the writer's since rm
// left (or, with exact false, a bound below it: see lowestCut), and ok
// false if the page cannot tell. It is math.MaxInt64 where the
// epoch has not moved, so no cut can have reached a byte read since rm, and
// where the page could not be read (then or now: another program cut the
// manifest, or the reader's Close let go of the page), where there is no
// writer's cut to follow and each piece stood on its own (followedRead).
func (s *sharedPage) lowestSince(rm readMark) (low int64, exact, ok bool) {
	e, _, now := s.epochSize()
	if !rm.ok || !now || e == rm.epoch {
		return math.MaxInt64, true, true
	}
	if !rm.marked {
		return 0, false, false
	}
	return s.lowestCut(rm.id, rm.cuts)
}

// uncut reports whether every cut the writer has made since it had made
// c0, in numbering id, left Size at end or above, as far as the page can
// tell.
func (s *sharedPage) uncut(id, c0 uint64, end int64) bool {
	low, _, ok := s.lowestCut(id, c0)
	return ok && low >= end
}

// cutsDeletedCount returns the id of the numbering of cuts and how many
// cuts the writer has made whose chunk files are gone (cutsDeleted).
func (s *sharedPage) cutsDeletedCount() (id, done uint64, ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	l := &s.p.lows
	if !l.read(func() { id, done = l.id.Load(), l.done.Load() }) {
		return 0, 0, false
	}
	return id, done, id != 0 && s.loaded()
}

// setSize mirrors a new Size; start is the writer's Start.
func (s *sharedPage) setSize(size, start int64) (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	s.check(start, s.size)
	s.p.size.Store(size)
	s.size = size
	s.check(start, size)
	return true
}

// setStart mirrors a new Start; size is the writer's Size.
func (s *sharedPage) setStart(start, size int64) (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	s.check(s.start, size)
	s.p.start.Store(start)
	s.start = start
	s.check(start, size)
	return true
}

// verify is check under a fault guard, for Sync.
func (s *sharedPage) verify(start, size int64) (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	s.check(start, size)
	return true
}

// check marks the page broken if it is not the writer's any more: its
// magic is gone, or it holds another boot ID, Start or Size than the
// writer's (start and size, which it mirrors under mu, so that nothing of
// its own can differ there). Another program wrote over it (zeros, say)
// without cutting the file, which faults nothing, and readers stop
// trusting the page, or, where the magic stands, follow values no writer
// recorded: they hide the chunks below such a Start, and a recovery after
// a crash takes the record instead of a page whose Start is past its
// first chunk, losing what returned since the last Sync; under another
// boot ID they stop following for good (a page of another boot is not
// one to follow), and go on reading the files the writer deletes; and a
// clean mark, which only Close sets, makes the next Open after a crash
// take the dataset as closed cleanly, so that its first Sync leaves the
// dead writer's unsynced writes to chance (recovered, in open.go). The
// writer's change that mirrored a value (or its Sync, through verify)
// calls pageErrLocked next, which writes the page whole again (restore),
// so readers follow it again from there. setSize and setStart check
// before they store as well as after: the store itself would hide a value
// another program wrote over the one stored, to which a reader may have
// raised its Size lock-free, and which only an epoch move takes back.
//
// REQUIRES: the caller's fault guard (the page is mapped memory), and the
// writer's mu held (start and size are its values of that moment).
func (s *sharedPage) check(start, size int64) {
	p := s.p
	if string(p.magic[:]) != stateMagic || p.boot != s.boot || p.clean.Load() != 0 || p.start.Load() != start || p.size.Load() != size {
		s.broken.Store(true)
	}
}

// restore writes the page whole again after a fault marked it broken, as
// setup does for writer boot, and clears the mark if the stores went
// through: the cause (a manifest made read-only to the system, say) is
// gone. The page may hold values from before any number of changes, so
// the epoch moves before and after, as around a shrink (a reader takes
// the exact values when it sees the epoch move; the first move is to a
// new random epoch, see newEpoch), and Start is lowered before Size is
// set and raised after it, so the page never says Start > Size. Boot and
// magic go last, magic after boot: a page another program zeroed (or cut
// and grew again) is trusted only once Start and Size are in, and never
// seen as a live page of another boot, which a reader would read without
// following.
func (s *sharedPage) restore(boot [48]byte, start, size int64) (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	p := s.p
	p.epoch.Store(newEpoch())
	p.clean.Store(0)
	p.start.Store(min(p.start.Load(), start))
	p.size.Store(size)
	p.start.Store(start)
	p.boot = boot
	copy(p.magic[:], stateMagic)
	p.restartCuts(size) // the page may have said more
	p.epoch.Add(1)
	s.start, s.size, s.boot = start, size, boot
	s.broken.Store(false)
	return true
}

// bumpEpoch advances the epoch, before the writer deletes chunk files.
func (s *sharedPage) bumpEpoch() (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	s.p.epoch.Add(1)
	return true
}

// epochSize loads the epoch, then Size.
func (s *sharedPage) epochSize() (e uint64, size int64, ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	e = s.p.epoch.Load()
	size = s.p.size.Load()
	return e, size, s.loaded()
}

// markClean says that the last record holds everything (a clean Close).
func (s *sharedPage) markClean() (ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	if s.unmapped.Load() {
		return false
	}
	s.p.clean.Store(1)
	return true
}

// pageState is what a reader copies from the page.
type pageState struct {
	epoch       uint64
	start, size int64
	stable      bool // the epoch did not move while Start and Size were read
	live        bool // set up by a writer of the current boot
	clean       bool // and closed cleanly
	magic       bool // set up by a writer at all
	blank       bool // magic, boot, epoch, Start, Size and clean all zero
	present     bool // copied from a page (the zero pageState is of none)
}

// damaged reports whether the page holds something but not the magic: a
// page no writer set up is blank, and every writer stores the magic with
// the rest in one call (setup, restore), so a page that lost it was
// written over (by another program, or the device) and cannot say what a
// writer of this boot kept there. The fields from the magic to clean lie in
// one sector of the file, so no write-back torn by a power loss leaves
// them half written. One case does leave a page so: a writer killed within
// setup or restore, between the stores of its fields and that of the
// magic, at the first Open of a dataset whose page was blank (which then
// has no chunk file past Size: Open removed them before) or while it
// restores a page another program wrote over; and a write-back of the
// page within that instant of setup, followed by a power loss before the
// page was written back again, with chunk files made meanwhile. The last
// makes a read-write Open refuse a dataset it could have opened, whose
// files past Size hold only writes no Sync acknowledged: the error says
// to remove them.
func (ps pageState) damaged() bool { return ps.present && !ps.magic && !ps.blank }

// load copies the page's state; boot is the current boot's ID. The epoch is
// loaded before and after Start and Size, as in a seqlock: the writer
// advances it after every shrink (and around deleting chunk files), so
// within one epoch Size only grows.
func (s *sharedPage) load(boot [48]byte) (ps pageState, ok bool) {
	defer s.catchPage(debug.SetPanicOnFault(true), &ok)
	p := s.p
	ps.epoch = p.epoch.Load()
	ps.start = p.start.Load()
	ps.size = p.size.Load()
	ps.stable = p.epoch.Load() == ps.epoch
	ps.magic = string(p.magic[:]) == stateMagic
	ps.live = ps.magic && boot != [48]byte{} && p.boot == boot
	ps.clean = p.clean.Load() == 1
	ps.blank = p.magic == [8]byte{} && p.boot == [48]byte{} && ps.epoch == 0 && ps.start == 0 && ps.size == 0 && p.clean.Load() == 0
	ps.present = true
	if !s.loaded() {
		return pageState{}, false
	}
	return ps, true
}

// loaded reports whether what a method loaded from the page counts, as it
// does unless the page may be unmapped (see sharedPage). It is called after
// the loads, and Close sets unmapped before it unmaps the page.
func (s *sharedPage) loaded() bool { return !s.unmapped.Load() }
