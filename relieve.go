package chunkmap

// This file holds what a Manager does when the system refuses it a
// mapping, or the file a mapping needs, for want of memory, mappings or
// descriptors: it gives back what it can, lowers its bound on mapped
// chunks (relieveLocked), and raises the bound again as the shortage ends
// (recoverLocked). Every function here runs under m.mu, and keeps its
// state in the mu fields of its own group (manager.go).

import (
	"errors"
	"fmt"
)

// refused reports whether err is the system refusing a mapping, or the
// open of a file, for want of what the Manager's mappings take: memory,
// mappings or descriptors (each mapped chunk keeps its file open).
func refused(err error) bool { return mapRefused(err) || filesRefused(err) }

// refusedLocked is lookupLocked after the system refused to map chunk idx
// for want of memory or of mappings: the process has as many mappings as
// the system allows it (vm.max_map_count on Linux), or no address space or
// memory left for one more. (Or it refused to open the chunk's file for
// want of descriptors, after the Manager closed its idle cached ones:
// every mapped chunk keeps its file open, and the same steps give those
// back.) Whatever else holds them, the chunks mapped here are the ones this
// Manager can give back, and a process whose runtime cannot map a heap
// arena or a goroutine stack dies.
//
// So the Manager gives back what it can and keeps away from the limit for a
// while (relieveLocked). It evicts every chunk nobody holds: the system
// counts a mapped slot between two empty ones as three mappings (two pieces
// of the reservation around the chunk), and only slots emptied next to
// empty ones merge back into one, so evicting a few chunks among mapped
// neighbours would give nothing back. And it lowers the bound on mapped
// chunks to 3/8 of the n mapped now: b chunks take at most 2b+1 mappings,
// so the most the Manager takes at that bound, 3n/4+1, leaves the process a
// quarter of the n or more it held at the refusal. Each refusal lowers it
// again (to 3/8 of what is mapped then, the held chunks, and never below
// 1); there is no waiting before the next attempt, as the cause may be gone
// by then, and a failed mmap costs no more than a pread. Then the mapping is
// tried once more. ReadAt and WriteAt serve a chunk that still cannot be
// mapped by pread and pwrite (mapForIOLocked); other calls return the
// error. The bound comes back up as the shortage ends (recoverLocked).
//
// REQUIRES: m.mu held; chunk idx not mapped, its slot empty.
func (m *Manager) refusedLocked(idx int64, op string, err error) (*mapping, error) {
	m.relieveLocked(err)
	mp, err := m.mapLocked(idx, op)
	if err != nil && refused(err) {
		err = m.refusalError(err)
	}
	return mp, err
}

// relieveLocked is what a Manager does when the system refuses it a
// mapping (see refusedLocked), err: it lowers its bound to 3/8 of the
// chunks mapped now and unmaps every chunk nobody holds. It counts the
// refusal (Stats.Refusals) and starts, or lengthens, the wait before the
// bound rises again (recoverLocked), noting what was refused, mappings
// (or memory) or descriptors, for which that recovery looks for room.
//
// REQUIRES: m.mu held.
func (m *Manager) relieveLocked(err error) {
	m.mu.refusals++
	m.mu.mapsShort = m.mu.mapsShort || mapRefused(err)
	m.mu.filesShort = m.mu.filesShort || filesRefused(err)
	switch {
	case m.mu.raiseAfter == 0:
		m.mu.raiseAfter = raiseFirst
	case m.mu.raised:
		// The last raise, or the run of misses that ended at MaxMapped,
		// met the limit again: probe half as often.
		m.mu.raiseAfter = min(2*m.mu.raiseAfter, m.raiseMost())
	}
	m.mu.raised = false
	m.mu.calmFrom = m.misses.Load()
	// With no chunk of its own mapped, the Manager took none of what ran
	// short, and a lower bound would only send its reads to pread.
	n := len(m.mu.live)
	m.mu.unmapped = n == 0
	if n > 0 {
		m.mu.mapBound = max(1, min(m.mu.mapBound, 3*n/8))
	}
	// Room for mapBound more within mapBound: every chunk not held goes.
	m.evictLocked(m.mu.mapBound)
	m.over.Store(len(m.mu.live) > m.mu.mapBound)
	// The evicted chunks' files went to the descriptor cache: a refusal
	// for want of descriptors needs them closed, with those a growth's
	// maker keeps open and the other Managers' idle ones.
	if filesRefused(err) {
		m.giveBackFilesLocked()
	} else {
		m.dropIdleFdsLocked(-1)
	}
}

// The bound a refusal lowered (relieveLocked) comes back on its own: a
// shortage of descriptors, mappings or memory is often another part of the
// process's passing burst (connections, say), and a bound kept low for
// good would make a long-running Manager remap at every access past it
// for the rest of its life. The Manager cannot ask the system whether the
// room is back (a mapping or an open that succeeds is the only test), so it
// probes: after raiseAfter misses with no refusal it doubles the bound, up
// to MaxMapped (recoverLocked). Misses are the clock, because they are what
// a low bound costs: a Manager whose chunks fit the lowered bound misses
// nothing, loses nothing by it, and raises nothing. (The process's share
// of the system's mappings is kept apart, per map, by overMapBudget: a
// bound above it costs nothing.)
//
// A probe that meets the limit again costs one relieve cycle: every chunk
// nobody holds is unmapped, to be mapped again as it is used. So each
// refusal that follows a raise (the raise, or the run of misses that
// followed it, found the limit still there) doubles raiseAfter, from
// raiseFirst up to raiseMost: the k-th failed probe of a shortage comes
// raiseFirst·2^(k-1) misses or more after the refusal before it, so
// against a limit that persists, n misses pay at most
// log2(raiseMost/raiseFirst) + 1 + n/raiseMost relieve cycles. A cycle
// unmaps at most the bound's chunks, at most MaxMapped, which raiseMost
// (16 MaxMapped or more) amortises to a sixteenth of a remap per miss or
// less; between cycles the bound is one the system allowed. Refusals with
// no raise between them (the room shrank further) do not lengthen the
// wait: each lowers the bound, and none is a probe.
//
// A probe is not free for the rest of the process either: a Go program
// whose runtime cannot map a heap arena or a thread's stack dies, and one
// out of descriptors cannot accept a connection; a bound raised blindly
// would take the process back to its limit each time. So where the system
// counts what was refused (Linux), a raise goes only as far as what it may
// take fits in what the process has spare with a quarter of the limit
// still left: after a refusal for want of mappings or memory, two
// mappings a chunk past those mapped now, within vm.max_map_count
// (spareMappings); after one for want of descriptors, one a chunk, within
// RLIMIT_NOFILE (spareFiles; every mapped chunk keeps its file open). A
// look that finds no room waits twice as long for the next (lookAfter),
// as a failed probe does, with nothing unmapped, so a shortage that lasts
// costs no relieve cycle past the first (nor a read of /proc/self/maps,
// 5 MiB at Linux's default limit, every few misses). That wait is the
// looks' alone: once one finds room, the raises that follow come at the
// pace the refusals set (raiseAfter), for the system has said the room is
// there, where keeping the looks' wait made each doubling of the bound
// after a long shortage wait up to raiseMost misses, nearly each a remap.
// Where the count cannot be read, the backoff alone bounds the probes.
//
// Against a limit that is gone, the bound climbs from b to MaxMapped in
// log2(MaxMapped/b) raises, each after raiseAfter misses (at most
// raiseMost); once it has stood at MaxMapped for raiseAfter misses with no
// refusal, the shortage is forgotten: raiseAfter goes back to 0, and the
// next refusal waits raiseFirst. Without misses the history stays, which
// costs nothing until the next shortage, whose recovery then waits twice
// as long.
const (
	raiseFirst = 64      // misses after a first refusal before the bound rises
	raiseLeast = 1 << 14 // raiseMost for a MaxMapped of 1,024 or less
)

// raiseMost is the most misses the Manager waits between two raises of
// its bound (see raiseFirst).
func (m *Manager) raiseMost() int64 {
	return max(raiseLeast, 16*int64(m.opts.MaxMapped))
}

// spareCounts are spareMappings and spareFiles, or what a test has them
// say.
var spareCounts = struct{ maps, files func() (int64, bool) }{spareMappings, spareFiles}

// recoverLocked raises the bound a refusal lowered (relieveLocked), if
// raiseAfter misses passed since the last refusal or raise: it doubles it,
// up to MaxMapped and to what the process has room for, and forgets the
// refusals once the bound has stood at MaxMapped that long. Called at each
// miss of the locked paths, where one comparison is all it costs while
// nothing was refused.
//
// REQUIRES: m.mu held.
func (m *Manager) recoverLocked() {
	wait := max(m.mu.raiseAfter, m.mu.lookAfter)
	if m.mu.raiseAfter == 0 || m.misses.Load()-m.mu.calmFrom < wait {
		return
	}
	m.mu.calmFrom = m.misses.Load()
	if m.mu.mapBound >= m.opts.MaxMapped {
		m.mu.raiseAfter, m.mu.lookAfter, m.mu.raised = 0, 0, false
		m.mu.mapsShort, m.mu.filesShort = false, false
		return
	}
	bound := min(m.opts.MaxMapped, 2*m.mu.mapBound)
	// room is the chunks that n spare mappings or descriptors allow, in
	// an int on 32-bit platforms too.
	room := func(n int64) int { return len(m.mu.live) + int(min(max(0, n), int64(m.opts.MaxMapped))) }
	if m.mu.mapsShort {
		if spare, ok := spareCounts.maps(); ok {
			bound = min(bound, room(spare/2))
		}
	}
	if m.mu.filesShort {
		if spare, ok := spareCounts.files(); ok {
			bound = min(bound, room(spare))
		}
	}
	if bound <= m.mu.mapBound {
		m.mu.lookAfter = min(2*wait, m.raiseMost())
		return
	}
	m.mu.lookAfter = 0
	m.mu.mapBound = bound
	m.mu.raised = true
	m.over.Store(len(m.mu.live) > m.mu.mapBound)
}

// refusalError is err, a mapping the system refused for want of memory or
// mappings once the Manager had given back what it could, with what an
// operator can do about it.
//
// REQUIRES: m.mu held.
func (m *Manager) refusalError(err error) error {
	var said *refusal
	var room *roomRefusal
	if errors.As(err, &said) || errors.As(err, &room) {
		return err // a nested call said it already, or roomForMaps did
	}
	hint := mapRefusedHint
	if filesRefused(err) {
		hint = "the process is out of file descriptors: raise its limit (ulimit -n)"
	}
	if m.mu.unmapped {
		// Lowering MaxMapped would not help: the room went elsewhere.
		return &refusal{err: err, why: fmt.Sprintf("%s; this Manager had no chunk mapped, and MaxMapped is now %d", hint, m.mu.mapBound)}
	}
	return &refusal{err: err, why: fmt.Sprintf("%s, or lower MaxMapped; MaxMapped is now %d", hint, m.mu.mapBound)}
}

// refusal is a refused mapping or descriptor, with what to do about it.
type refusal struct {
	err error
	why string
}

func (r *refusal) Error() string { return r.err.Error() + " (" + r.why + ")" }
func (r *refusal) Unwrap() error { return r.err }
