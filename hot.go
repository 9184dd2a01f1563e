package chunkmap

// This file holds the lock-free access paths and the fault guard. They take
// no lock; the rules that make them safe against a concurrent eviction are
// at the top of slots.go. Anything that fails here (a chunk that is not
// mapped, a fault, a slot that changed under the access) returns false, and
// the caller takes the locked path in io.go, which settles it.

import (
	"reflect"
	"runtime"
	"runtime/debug"
	"unsafe"
)

// fault is a memory fault recovered by a guard.
type fault struct {
	addr uintptr
	hit  bool
}

// memFault reports whether a recovered panic value r is a memory fault
// that SetPanicOnFault turned into a panic, and its address. Such a value
// is a runtime.Error with an Addr method, of a type of package runtime: a
// Batch's function may panic with a value of the program's own that has
// the same methods, even an address the batch handed out, and that panic
// is not a fault, and goes on.
func memFault(r any) (addr uintptr, ok bool) {
	a, ok := r.(interface {
		runtime.Error
		Addr() uintptr
	})
	if !ok || !runtimeType(reflect.TypeOf(r)) {
		return 0, false
	}
	return a.Addr(), true
}

// runtimeType reports whether t, or what it points to, is a type of
// package runtime, which no other package can declare.
func runtimeType(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "runtime"
}

// catchFault is deferred, with the result of debug.SetPanicOnFault(true), by
// every function that touches mapped memory that it does not hold, but the
// single-access paths, which defer endHot. It
// restores the goroutine's previous setting and turns a fault into f; any
// other panic goes on unwinding, because it is a bug or the caller's, not an
// I/O condition.
func catchFault(prev bool, f *fault) {
	debug.SetPanicOnFault(prev)
	if r := recover(); r != nil {
		addr, ok := memFault(r)
		if !ok {
			panic(r)
		}
		f.addr, f.hit = addr, true
	}
}

// endHot is the fault guard of the lock-free paths for one access
// (hotRead1, hotReadSpan, hotWrite1, hotAtomic), deferred with the result of
// debug.SetPanicOnFault(true). It restores the goroutine's previous setting.
// *done is true only once the path has returned after its last access to
// mapped memory; then no fault can have happened, and endHot skips recover,
// a call into the runtime that is about a sixth of the guard's cost on a
// hit (1.3 of 7.9 ns for an 8-byte load of a hot page). Otherwise a fault
// is recovered, and a store announced in a slot (*in, where in is not nil)
// leaves it, so that an eviction waiting for it is not kept waiting; the
// path then reports that it could not serve the access, and its caller
// takes the locked path. Any other panic goes on unwinding, because it is
// a bug or the caller's, not an I/O condition.
func endHot(prev bool, done *bool, in **slot) {
	debug.SetPanicOnFault(prev)
	if *done {
		return
	}
	if r := recover(); r != nil {
		if _, ok := memFault(r); !ok {
			panic(r)
		}
		if in != nil && *in != nil {
			(*in).leave()
		}
	}
}

// hotRead1 fills p, which lies within one chunk, from offset off, and
// reports whether it could. It loads the slot's generation and own word,
// and the Manager's shrink epoch, before and after the copy (see slots.go);
// p may hold anything when it reports false.
//
// A following reader passes its writer's shared state page as pg (others
// pass nil), and the read then also checks, under the same guard, what
// followedRead checks under three of its own: that the page's epoch is the
// one the reader last took under its lock (seen), whose chunk files are
// the ones it maps, before the copy and still after it, and that the
// page's Size still covers p after it (a Truncate stores the cut Size
// before it moves the epoch). Within an epoch the page's Size only grows,
// so the reader's own Size, which ReadAt checked p against, is at most the
// page's. Anything else, or a fault on the page, reports false, and the
// caller takes followedRead's path, which settles it.
func (m *Manager) hotRead1(p []byte, off int64, pg *statePage) (ok bool) {
	// A fault unwinds before ok is set, so it reads false, and ok is set
	// only by the return after the last access: it is endHot's done.
	defer endHot(debug.SetPanicOnFault(true), &ok, nil)
	var pe uint64
	if pg != nil {
		var taken bool // not ok: a fault must leave ok false
		if pe, taken = m.pageTaken(pg); !taken {
			return false
		}
	}
	atRace(siteReadSized)
	e := m.shrinks.Load()
	want := m.chunkOf(off) + 1
	k := (want - 1) & m.smask
	s := &m.slots[k]
	g := s.gen.Load()
	if s.own.Load() != want || off+int64(len(p)) > m.state().size.Load() {
		return false
	}
	atRace(siteRead1)
	src := unsafe.Add(m.slotAddr(k), off&m.mask)
	if len(p) == 8 {
		*(*[8]byte)(p) = *(*[8]byte)(src)
	} else {
		copy(p, unsafe.Slice((*byte)(src), len(p)))
	}
	loadFence()
	atRace(siteReadCopied)
	// The page first, then the slot and the shrink epoch: Close moves
	// the shrink epoch, and empties every slot, before it unmaps the page
	// (Windows; see sharedPage), so a pageStill that loaded after the
	// unmap, from memory that may be another owner's by then, is caught
	// by the loads after it, as is a pageTaken (by the own check before
	// the copy).
	if pg != nil && !pageStill(pg, pe, off+int64(len(p))) {
		return false
	}
	if s.own.Load() != want || s.gen.Load() != g || m.shrinks.Load() != e {
		return false
	}
	if !s.used.Load() {
		s.used.Store(true)
	}
	return true
}

// pageTaken returns the epoch of pg, a following reader's view of its
// writer's state page, and whether it is the state the reader took last
// (seen), so that a lock-free read of a chunk mapped by the reader reads
// the chunk file the writer has under that name (see hotRead1). A caller
// calls it under a fault guard, as it does pageStill after the read: the
// page is a mapping of the manifest, which another program may truncate.
func (m *Manager) pageTaken(pg *statePage) (epoch uint64, ok bool) {
	epoch = pg.epoch.Load()
	return epoch, epoch == m.seen.Load() && epoch != midFollow && pg.magic == stateMagicBytes
}

// pageStill reports whether pg's epoch is still epoch, as pageTaken
// returned it before a read, and its Size still covers the read's end.
func pageStill(pg *statePage, epoch uint64, end int64) bool {
	return pg.epoch.Load() == epoch && end <= pg.size.Load()
}

// Results of hotWrite1.
const (
	notStored   = iota // the chunk is not mapped, or the store faulted: take the locked path
	stored             // stored, and the chunk was marked dirty already
	storedClean        // stored, and the chunk must be marked (once per chunk per Sync)
)

// hotWrite1 stores p, which lies within one chunk, at offset off, and says
// how it went (see notStored, stored and storedClean). After a fault part
// of p may be stored; the locked path stores all of it again. It stores only
// to a chunk marked dirty: the first write to a chunk since the last Sync
// takes the locked path, which may send it to the file instead (see
// cleanWrites).
//
// The dirty flag is read by the atomic operation that leaves the slot, after
// the store, so a Sync clearing it concurrently either finds the stored bytes
// in the page cache or cleared it before the writer read it, and the flag
// read is the flag of the writer's own chunk (see slots.go and sync.go).
//
// sized says whether the caller's check of the range against Size may be
// stale (WriteAt's fast path), so that Size is checked again after entering
// (see slots.go); callers under resize, which no Truncate runs beside, and
// whose range may lie past Size (a write that extends it) pass false.
func (m *Manager) hotWrite1(p []byte, off int64, sized bool) (res int) {
	var in *slot
	var done bool // set once the store is made and the slot left
	defer endHot(debug.SetPanicOnFault(true), &done, &in)
	atRace(siteWrite1Sized)
	want := m.chunkOf(off) + 1
	k := (want - 1) & m.smask
	s := &m.slots[k]
	w := s.enter()
	in = s
	// alloc is read after own: it is the allocation of own's chunk. Size
	// is read again after entering (see slots.go).
	if w&dirtyBit == 0 || s.own.Load() != want || off&m.mask+int64(len(p)) > s.alloc.Load() || sized && off+int64(len(p)) > m.state().size.Load() {
		in = nil
		s.leave()
		return notStored
	}
	atRace(siteWrite1)
	dst := unsafe.Add(m.slotAddr(k), off&m.mask)
	if len(p) == 8 {
		*(*[8]byte)(dst) = *(*[8]byte)(p)
	} else {
		copy(unsafe.Slice((*byte)(dst), len(p)), p)
	}
	in = nil
	dirty := s.leave()
	if !s.used.Load() {
		s.used.Store(true)
	}
	done = true
	if !dirty {
		return storedClean
	}
	return stored
}

// copyGuarded copies src to dst under a fault guard, for the locked paths,
// which hold what they copy from or to and so may fault only because of the
// file under it.
func copyGuarded(dst, src []byte) (f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	copy(dst, src)
	return f
}

// maxSpan is the most chunks hotReadSpan and hotWriteSpan take in one go;
// a longer range is read or written a chunk at a time.
const maxSpan = 16

// hotReadSpan is hotRead1 for a range across chunk boundaries: where the
// arena places the chunks side by side and all are mapped, it copies the
// range in one go, checking every chunk's own word before and after, and
// for a following reader its writer's state page pg as hotRead1 does.
func (m *Manager) hotReadSpan(p []byte, off int64, pg *statePage) (ok bool) {
	defer endHot(debug.SetPanicOnFault(true), &ok, nil) // as in hotRead1
	var pe uint64
	if pg != nil {
		var taken bool // not ok: a fault must leave ok false
		if pe, taken = m.pageTaken(pg); !taken {
			return false
		}
	}
	atRace(siteReadSized)
	e := m.shrinks.Load()
	first, last := m.chunkOf(off), m.chunkOf(off+int64(len(p))-1)
	k := first & m.smask
	if m.fbase != nil || last-first >= maxSpan || last-first > m.smask-k {
		return false
	}
	var gens [maxSpan]uint64
	for i := int64(0); i <= last-first; i++ {
		gens[i] = m.slots[k+i].gen.Load()
		if m.slots[k+i].own.Load() != first+i+1 {
			return false
		}
	}
	if off+int64(len(p)) > m.state().size.Load() {
		return false
	}
	atRace(siteReadSpan)
	copy(p, unsafe.Slice((*byte)(unsafe.Add(m.slotAddr(k), off&m.mask)), len(p)))
	loadFence()
	atRace(siteReadCopied)
	// The page first, as in hotRead1.
	if pg != nil && !pageStill(pg, pe, off+int64(len(p))) {
		return false
	}
	if m.shrinks.Load() != e {
		return false
	}
	for i := int64(0); i <= last-first; i++ {
		s := &m.slots[k+i]
		if s.own.Load() != first+i+1 || s.gen.Load() != gens[i] {
			return false
		}
		if !s.used.Load() {
			s.used.Store(true)
		}
	}
	return true
}

// hotWriteSpan is hotWrite1 for a range across chunk boundaries, as
// hotReadSpan is for reads: it announces itself in every chunk's slot,
// stores the range in one go, and marks the chunks it found clean when it
// left (a Sync ran meanwhile). Like hotWrite1 it stores only where every
// chunk was marked dirty when it entered. sized is as for hotWrite1.
func (m *Manager) hotWriteSpan(p []byte, off int64, sized bool) (ok bool) {
	first, last := m.chunkOf(off), m.chunkOf(off+int64(len(p))-1)
	k := first & m.smask
	if m.fbase != nil || last-first >= maxSpan || last-first > m.smask-k {
		return false
	}
	n := last - first + 1
	// Announce in every slot first, then check them all: each slot then
	// follows the rule of slots.go for the whole store.
	ok = true
	for i := range n {
		if m.slots[k+i].enter()&dirtyBit == 0 {
			ok = false
		}
	}
	for i := range n {
		// Every chunk but the last is stored to its end.
		need := m.chunkSize
		if i == n-1 {
			need = (off+int64(len(p))-1)&m.mask + 1
		}
		if m.slots[k+i].own.Load() != first+i+1 || m.slots[k+i].alloc.Load() < need {
			ok = false
		}
	}
	ok = ok && (!sized || off+int64(len(p)) <= m.state().size.Load())
	if ok {
		atRace(siteWriteSpan)
		f := copyGuarded(unsafe.Slice((*byte)(unsafe.Add(m.slotAddr(k), off&m.mask)), len(p)), p)
		ok = !f.hit
	}
	var clean [maxSpan]bool
	for i := range n {
		s := &m.slots[k+i]
		clean[i] = !s.leave()
		if ok && !s.used.Load() {
			s.used.Store(true)
		}
	}
	if ok {
		for i := range n {
			if clean[i] {
				m.markStored(first + i)
			}
		}
	}
	return ok
}
