package chunkmap

// This file holds ReadAt and WriteAt: their checks, their loops over
// chunks, and their locked paths for what the lock-free paths of hot.go
// could not do. Writes past Size go on in extend.go.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// ReadAt implements [io.ReaderAt]. It copies len(p) bytes from offset off
// into p. A read that reaches past Size returns the bytes before Size and
// io.EOF; a read that fills p returns a nil error. Reading below Start
// returns ErrOutOfRange; a zero-length read of an open Manager returns 0
// and nil at any offset that is not negative, as os.File's does. ReadAt
// may run in parallel with every other method. One that a concurrent
// Truncate or DropBefore overtakes is made again after it, so it returns
// what the dataset holds then (io.EOF where the new Size cuts it short):
// on a read-write Manager once, waiting for the shrink to finish; on a
// ReadOnly one that follows no writer up to 8 times, then ErrOutOfRange.
// A following reader's ReadAt of more than 256 KiB may instead stop where
// its writer's cut went, with io.EOF, keeping the bytes before it. It
// does not retain p, which must not share memory with the bytes it reads
// (see WriteAt).
func (m *Manager) ReadAt(p []byte, off int64) (int, error) {
	// The common case first: a read inside one mapped chunk and inside
	// Size, in one guarded frame. Neither Close nor Start needs a check
	// here: Close and DropBefore clear the own word of every chunk they
	// take away, so hotRead1 fails for those, and the checks below say why.
	// A reader following a writer checks the writer's shared state page
	// too, in the same guarded frame; where that does not settle the
	// read, readAt follows the writer first.
	if n := int64(len(p)); off >= 0 && n > 0 && n <= m.state().size.Load()-off {
		var pg *statePage
		if m.follows.Load() {
			pg = m.shared.p
		}
		if n <= m.chunkSize-off&m.mask {
			if m.hotRead1(p, off, pg) {
				return len(p), nil
			}
		} else if m.hotReadSpan(p, off, pg) {
			// Across a chunk boundary: a following reader's readAt
			// would follow its writer first, in three more calls.
			return len(p), nil
		}
	}
	return m.readAt(p, off)
}

// readAt is ReadAt for every read that its fast path did not finish. It is
// a function of its own so that ReadAt's frame stays small: on the hot path
// every spill and every word of frame costs.
func (m *Manager) readAt(p []byte, off int64) (int, error) {
	if !m.live.Load() {
		return 0, m.errorf("read", at(off, int64(len(p))), ErrClosed, "")
	}
	if off < 0 {
		return 0, m.errorf("read", at(off, int64(len(p))), ErrOutOfRange, "negative offset")
	}
	if int64(len(p)) > maxOffset-off {
		return 0, m.errorf("read", at(off, int64(len(p))), ErrOutOfRange, "end overflows int64")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if m.follows.Load() {
		return m.readFollowed(p, off)
	}
	return m.readIn(p, off, at(off, int64(len(p))))
}

// readIn is readAt once the arguments are checked (and, for a following
// reader, Start and Size are the writer's). Its errors name call, the span
// of the ReadAt: a following reader reads p as a piece of it. The read
// stands as of one moment (see readWhole), with readWhole's checks made in
// place: a read across chunks is ReadAt's second most common.
func (m *Manager) readIn(p []byte, off int64, call span) (n int, err error) {
	follows := m.follows.Load() // as the read runs under it
	began := m.shrinks.Load()
	n, err = m.readPieces(p, off, call, began)
	if follows || m.shrinks.Load() == began || int64(len(p)) <= m.chunkSize-off&m.mask {
		// Nothing shrank, or one chunk, one piece: it stands on its
		// own checks (a piece a shrink overtook is read again whole,
		// see readPieces).
		return n, err
	}
	if werr := m.readAgain("read", call, func() { n, err = m.readPieces(p, off, call, m.shrinks.Load()) }); werr != nil {
		return 0, werr
	}
	return n, err
}

// readWhole runs read, which reads in pieces that each check on their own
// that no shrink overtook them (a ReadAt's chunks, a Gather's blocks and
// values), so that what it returns is as of one moment. A Truncate and the
// growth after it may land between two pieces: the first read before the
// cut, the next reads the growth's zeros, or bytes written after it, where
// the bytes cut off stood (see slots.go). So if the shrink epoch moved
// during the read, it is made again (readAgain). A following reader's
// pieces are checked against its writer's epoch instead (followedRead,
// readFollowed).
func (m *Manager) readWhole(op string, s span, read func()) error {
	follows := m.follows.Load() // as the read runs under it
	began := m.shrinks.Load()
	read()
	if follows || m.shrinks.Load() == began {
		return nil
	}
	return m.readAgain(op, s, read)
}

// readAgain makes read, a read that a shrink overtook (readWhole), again:
// on a writer once as before, then, if a shrink overtook it again, with
// resize held for reading, which no Truncate, DropBefore or Close runs
// beside, so once more (waiting only for the shrink or Close that overtook
// it, and for the writes it lets finish first); on a reader that
// follows no writer (whose Refresh may re-read a manifest that says less)
// until the epoch holds still, followTries times at most, and then the
// error is ErrOutOfRange.
func (m *Manager) readAgain(op string, s span, read func()) error {
	if !m.opts.ReadOnly {
		// Once more as it was first made: resize may be held for
		// writing by a growth that makes many chunk files (see fileRun),
		// for as long as that takes, and a read that no shrink overtakes
		// now stands without it.
		began := m.shrinks.Load()
		read()
		if m.shrinks.Load() == began {
			return nil
		}
		m.resize.RLock()
		defer m.resize.RUnlock()
		read()
		return nil
	}
	for range followTries - 1 {
		began := m.shrinks.Load()
		read()
		if m.shrinks.Load() == began {
			return nil
		}
	}
	return m.errorf(op, s, ErrOutOfRange, fmt.Sprintf("the dataset shrank during each of %d tries of the read", followTries))
}

// readPieces is readIn's read of p, a chunk at a time; shrinks is the
// shrink epoch, loaded before it.
func (m *Manager) readPieces(p []byte, off int64, call span, shrinks uint64) (int, error) {
	if off < m.state().start.Load() {
		return 0, m.errorf("read", call, ErrOutOfRange, fmt.Sprintf("below start %d", m.state().start.Load()))
	}
	// The shrink epoch before Size: a Truncate that changes the Size
	// read moves the epoch after it was loaded (see shrankSince).
	size := m.state().size.Load()
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > size-off {
		want = int(size - off)
	}
	n, err := m.read(p[:want], off)
	for errors.Is(err, errPastEnd) {
		// Overtaken by a Truncate, which may have left Size past where
		// the read stopped: it reads on up to the new Size.
		moved, perr := m.shrankSince(shrinks, size)
		if perr != nil {
			return n, m.wrapErr("read", call, perr)
		}
		if !moved {
			// Nothing moved: a chunk Size needs is not there, and
			// trying again would not bring it (a follower's chunk file
			// that another program removed).
			return n, m.wrapErr("read", call, m.missingChunk(off+int64(n)))
		}
		shrinks, size = m.shrinks.Load(), m.state().size.Load()
		if off+int64(n) >= size {
			break
		}
		want = int(min(int64(want), size-off))
		var k int
		k, err = m.read(p[n:want], off+int64(n))
		n += k
	}
	if err != nil {
		if errors.Is(err, errPastEnd) {
			// A Truncate that ran meanwhile took away what the read had
			// not reached yet: as a file's read that meets its
			// truncation, this one ends there.
			return n, io.EOF
		}
		return n, m.wrapErr("read", call, err)
	}
	if want < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// read fills p from offset off, a chunk at a time. The caller has checked
// that [off, off+len(p)) lies within [Start, Size). Its errors, and those
// of the functions below it (readSlow, write, writeSlow, fileIO, lockChunk),
// name the chunk file but not the operation or offset: the caller wraps
// them (wrapErr).
func (m *Manager) read(p []byte, off int64) (int, error) {
	if m.hotReadSpan(p, off, nil) {
		return len(p), nil
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		k := int(min(int64(len(p)-n), m.chunkSize-o&m.mask))
		if !m.hotRead1(p[n:n+k], o, nil) {
			if err := m.readSlow(p[n:n+k], o); err != nil {
				return n, err
			}
		}
		n += k
	}
	return n, nil
}

// readSlow fills p, which lies within one chunk, from offset off, holding mu:
// no eviction can run meanwhile, so a fault here is the file's. A chunk that
// Admission does not map, or whose slot another chunk holds, is read with
// pread.
func (m *Manager) readSlow(p []byte, off int64) error {
	if readSlowHook != nil {
		readSlowHook()
	}
	if err := m.lockChunk(p, off); err != nil {
		return err
	}
	if size := m.state().size.Load(); off+int64(len(p)) > size {
		// A Truncate shrank the dataset since the caller checked the
		// range, and the chunk may have been made anew (see slots.go).
		m.mu.Unlock()
		return pastEnd{fmt.Sprintf("past size %d", size)}
	}
	// A large read of a chunk that is not mapped, under AdviceSequential,
	// is a scan: pread lets the page cache read ahead across the file,
	// where a mapping's faults read ahead only within what they touch,
	// and it maps nothing that the scan will not come back to.
	var mp *mapping
	var err error
	if m.opts.Advice != AdviceSequential || len(p) < bulkWrite || m.mappingLocked(off>>m.shift) != nil {
		mp, err = m.mapForIOLocked(off>>m.shift, "read", len(p) >= bulkWrite)
	} else {
		m.misses.Add(1)
	}
	if err != nil {
		m.mu.Unlock()
		return err
	}
	if mp == nil {
		_, err := m.fileIOLocked(p, off, false)
		return err
	}
	src := m.slotBytes(int64(mp.k), off&m.mask, len(p))
	f := copyGuarded(p, src)
	mp.s.used.Store(true)
	m.mu.Unlock()
	if f.hit {
		if err := m.bufferFault(f, src); err != nil {
			return err
		}
		// On tmpfs even a read of a hole through a mapping needs a page,
		// so on a full tmpfs it faults; pread reads the hole as zeros. A
		// file truncated from outside fails both ways.
		switch _, err := m.fileIO(p, off, false); {
		case err == nil:
			return nil
		case errors.Is(err, errPastEnd):
			return err // a Truncate overtook the read: not the file's fault
		}
		return faultErr(mp, f)
	}
	return nil
}

// mapForIOLocked returns the mapping through which ReadAt or WriteAt should
// reach chunk idx, mapping it if Admission admits it (a large access only
// where that displaces no mapped chunk, see admitLocked); nil means pread
// or pwrite.
//
// REQUIRES: m.mu held.
func (m *Manager) mapForIOLocked(idx int64, op string, large bool) (*mapping, error) {
	if mp := m.mappingLocked(idx); mp != nil {
		return mp, nil
	}
	m.recoverLocked() // before admission, which reads the bound
	if !m.admitLocked(idx, large) {
		m.misses.Add(1)
		return nil, nil
	}
	if overMapBudget() && !m.evictOldestLocked() {
		// The Managers of the process hold their share of the system's
		// mappings, and this one has none of its own to give back: a
		// file's read or write needs no mapping.
		m.misses.Add(1)
		return nil, nil
	}
	mp, err := m.lookupLocked(idx, op)
	if err != nil && refused(err) {
		// A file's read or write needs no mapping: when the system has
		// none left to give, so does this one. (Where it refused a
		// descriptor, the Manager has given back those of its idle
		// mappings and cached files by now, and pread tries for one.)
		return nil, nil
	}
	return mp, err
}

// bufferFault is the error of a guarded copy between ours, bytes of a
// chunk, and a caller's buffer, that faulted at f.addr, if that lies
// outside ours: then the caller's buffer is not memory the call may read or
// write (a mapping of a file that another program truncated, say), and the
// error is the one pread and pwrite return for such a buffer, EFAULT. It is
// nil for a fault in ours. A buffer may also be bytes of this dataset
// (a pin): a fault in a slot that maps a chunk is that chunk file's, and
// is reported as any access through its mapping is, ErrFault naming the
// file.
func (m *Manager) bufferFault(f fault, ours []byte) error {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(ours)))
	if f.addr >= lo && f.addr-lo < uintptr(len(ours)) {
		return nil
	}
	if k, ok := m.slotAt(f.addr); ok {
		if own := m.slots[k].own.Load(); own != 0 {
			return chunkFaultErr(m.chunkPath(own-1), f)
		}
	}
	return fmt.Errorf("%w: the buffer passed faulted at address %#x: %w", ErrIO, f.addr, syscall.EFAULT)
}

// bufferRefused is the error of a pread or pwrite (write) that the system
// refused with EFAULT for p, its buffer. Where p reaches into this
// Manager's arena (a pin of the dataset passed as the buffer) the fault is
// a chunk file's, reported as bufferFault reports one, ErrFault naming the
// file; the system does not say which byte faulted: of the chunks at p's
// two ends, the first whose file under its name is not ChunkSize long is
// named, else the first. Elsewhere the caller's buffer is at fault, and
// the error says so as bufferFault does (ErrIO, EFAULT), naming the system
// call, not the chunk file it was for.
func (m *Manager) bufferRefused(p []byte, write bool) error {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	var first error
	for _, a := range [2]uintptr{lo, lo + uintptr(len(p)) - 1} {
		k, ok := m.slotAt(a)
		if !ok {
			continue
		}
		own := m.slots[k].own.Load()
		if own == 0 {
			continue
		}
		path := m.chunkPath(own - 1)
		err := chunkFaultErr(path, fault{addr: a, hit: true})
		if fi, serr := m.fsys.Lstat(path); serr != nil || fi.Size() != m.chunkSize {
			return err
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	call := "pread"
	if write {
		call = "pwrite"
	}
	return fmt.Errorf("%w: the buffer passed faulted in a %s: %w", ErrIO, call, syscall.EFAULT)
}

// slotAt returns the slot whose range holds address addr, if one does: by
// arithmetic in a contiguous arena, by a look at every slot in a scattered
// one (only a fault's report asks).
func (m *Manager) slotAt(addr uintptr) (k int, ok bool) {
	if m.fbase == nil {
		base := uintptr(m.abase)
		if addr < base || (addr-base)>>m.shift >= uintptr(len(m.slots)) {
			return 0, false
		}
		return int((addr - base) >> m.shift), true
	}
	for k := range m.slots {
		base := uintptr(m.slotAddr(int64(k)))
		if base != 0 && addr >= base && addr-base < uintptr(m.chunkSize) {
			return k, true
		}
	}
	return 0, false
}

// faultErr is the error of an access that faulted in mp's chunk. It names
// the chunk file, not the operation or offset: the caller's error does.
func faultErr(mp *mapping, f fault) error {
	return chunkFaultErr(mp.file.Path(), f)
}

// chunkFaultErr is faultErr for the chunk file at path.
func chunkFaultErr(path string, f fault) error {
	return fmt.Errorf("%w: chunk file %s (truncated or removed by another process, or an I/O error; fault at address %#x)",
		ErrFault, path, f.addr)
}

// WriteAt implements [io.WriterAt]. It writes p at offset off, creating
// chunk files as needed and extending Size to off+len(p) if that is past it;
// a gap between the old Size and off reads as zeros. Writing below Start
// returns ErrOutOfRange; a zero-length write changes nothing, and unless
// the Manager is closed or read-only, or a Sync has failed (ErrSyncFailed,
// which every later write returns), returns 0 and nil at any offset that
// is not negative.
//
// WriteAt may run in parallel with every other method; concurrent writes to
// overlapping bytes have the semantics of plain memory stores. (A write of
// less than 64 KiB whose growth makes more than 16 chunk files holds off
// the writes that take the Manager's locks until it is done, and waits for
// those in flight first, so that reads and pins can go on between its
// files: see the README's "Concurrency".) A WriteAt and
// a Truncate, DropBefore or Close happen one after the other, each whole,
// as a file's write and truncate do: a write across chunks is never cut
// short by them, and one that returns ErrClosed or ErrOutOfRange has
// written nothing. It does not retain p, which must not share memory with
// the bytes it writes (the dataset's own bytes, from a Pin, a Batch or an
// accessor View): as with a file written from a mapping of itself, the copy
// runs forward and may read bytes it has already overwritten, so copy such
// bytes to a buffer of their own first. If creating a chunk or allocating
// the blocks a write past Size needs fails (for example, the disk is full:
// the error matches ErrNoSpace) it returns the error and leaves Size as it
// was, unless a later write has already claimed the bytes after it (see
// Append); a write that began below Size may have written the bytes below
// it, which n counts. Any WriteAt that fails (a full disk or a file size
// limit under a write inside Size, say) counts in n the bytes from off on
// that the system reported written; on tmpfs a pwrite that fails for lack
// of space may have stored into pages that existed past them. A write past
// Size whose new Size the manifest's state page cannot take (a manifest
// the system refuses writes to, or a failing device) returns an error
// matching ErrIO (ErrCorrupt if another program truncated the manifest to
// nothing) although p is written and Size covers it: a crash of the process
// may lose it until a later call that changes Size, or Sync, records it in
// the page, which each of them tries again. (A manifest that another
// program cut shorter but not to nothing keeps the memory page that holds
// the state page mapped, which takes the new Size without a fault, so the
// write returns nil; the next Sync, and a Truncate or DropBefore that
// writes a record, report the cut manifest with ErrCorrupt, as Open does.)
//
// Writes of 64 KiB or more, the part of a write past Size if it is 8 KiB
// or more (its pages lie past everything written, where a store through a
// mapping takes a page fault for each: see docs/performance.md, "Growth
// by writes of a few pages"), and after each Sync the first smaller ones
// over bytes the dataset holds (up to 1,024, fewer where they crowd into
// few folios, to chunks not stored to through their mappings since: see
// cleanWrites), go to the chunk files with pwrite, which share the page
// cache with the mappings: a store through a mapping makes the next fsync
// write its whole folio of page cache, up to 2 MiB, where a pwrite marks
// only the blocks it writes (see docs/performance.md, "Small writes
// between Syncs"). So do writes into a sparse chunk that begin past a
// hole of it, until the chunk's writes have earned it the blocks before
// them (see holesBeforeLocked and the README's "How it works"). The other
// writes store through the mappings.
func (m *Manager) WriteAt(p []byte, off int64) (int, error) {
	// The common write, small and inside one mapped chunk and inside
	// [Start, Size), goes straight to hotWrite1. On cold data a write's
	// speed is set by its stores, and each call level adds some (a return
	// address, a frame pointer, spills): see hotWrite1.
	n := int64(len(p))
	if n > 0 && n < bulkWrite && !m.opts.ReadOnly && m.failed.Load() == nil &&
		off >= 0 && n <= m.state().size.Load()-off {
		// As in ReadAt, Close and Start need no check: hotWrite1 and
		// hotWriteSpan find the own word of a chunk taken away cleared.
		if n <= m.chunkSize-off&m.mask {
			switch m.hotWrite1(p, off, true) {
			case stored:
				return len(p), nil
			case storedClean:
				atRace(siteMarkStored)
				m.markStored(off >> m.shift)
				return len(p), nil
			}
		} else if m.hotWriteSpan(p, off, true) {
			// Across a chunk boundary: without the resize lock that
			// writeAt takes, which costs two more atomic operations.
			return len(p), nil
		}
	}
	return m.writeAt(p, off)
}

// writeAt is WriteAt for every write that its fast path did not finish.
func (m *Manager) writeAt(p []byte, off int64) (int, error) {
	if err := m.checkWrite("write", at(off, int64(len(p)))); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// No Truncate, DropBefore or Close runs while the write does: one
	// would take away chunks the write has begun to fill, leaving it half
	// done and failed (ErrOutOfRange, ErrClosed), where a file's write and
	// truncate each happen whole, one after the other. A small write far
	// past Size, whose growth makes many chunk files, holds the other
	// writes off too, so that it may let go of mu between runs of files
	// (see fileRun); a bulk write makes them on the maker (ahead.go).
	end := off + int64(len(p))
	pausing := m.lockGrowth(end, len(p) < bulkWrite)
	defer m.unlockResize(pausing)
	if !m.live.Load() {
		return 0, m.errorf("write", at(off, int64(len(p))), ErrClosed, "")
	}
	if off < m.state().start.Load() {
		return 0, m.errorf("write", at(off, int64(len(p))), ErrOutOfRange, fmt.Sprintf("below start %d", m.state().start.Load()))
	}
	if end <= m.state().size.Load() {
		n, err := m.write(p, off)
		return n, m.wrapErr("write", at(off, int64(len(p))), err)
	}
	c, err := m.reserve(off, end, pausing)
	if err != nil {
		return 0, m.wrapErr("write", at(off, int64(len(p))), err)
	}
	n, err := m.extend(p, c, false)
	return n, m.wrapErr("write", at(off, int64(len(p))), err)
}

// checkWrite checks what every write must: an open, writable Manager with
// no failed sync, and a range s that neither starts below zero nor
// overflows (what of it s has).
func (m *Manager) checkWrite(op string, s span) error {
	switch {
	case !m.live.Load():
		return m.errorf(op, s, ErrClosed, "")
	case m.opts.ReadOnly:
		return m.errorf(op, s, ErrReadOnly, "")
	case !s.hasOff:
	case s.off < 0:
		return m.errorf(op, s, ErrOutOfRange, "negative offset")
	case s.hasLen && s.n > maxOffset-s.off:
		return m.errorf(op, s, ErrOutOfRange, "end overflows int64")
	}
	if e := m.failed.Load(); e != nil {
		return m.wrapErr(op, s, fmt.Errorf("earlier sync: %w", *e))
	}
	return nil
}

// bulkWrite is the size from which a write goes to the chunk files with
// pwrite instead of through the mappings. A store to a page of a shared
// file mapping that the process has not yet touched takes a page fault
// (about 1.6 µs per 4 KiB page on the reference machine), which halves the
// throughput of filling fresh chunks; pwrite fills the same page cache,
// which the mappings share, without faults, and one system call is cheap
// next to copying this much.
const bulkWrite = 64 << 10

// growWrite is the size from which a write that grows the dataset (extend's
// bytes past the previous reservation: Append, a WriteAt past Size) goes to
// the chunk files with pwrite; smaller growth writes store through the
// mapping. The bytes a growth write fills lie past the end of everything
// written before, in pages no store through the mapping has touched, so
// there every page it reaches takes a page fault of its own, where one
// pwrite fills them all. Below two pages a store is as fast or faster; from
// two pages on pwrite wins, by more the more pages: appends of 16 KiB took
// 28.8 µs through the mapping against 11.4 µs with pwrite, of 60 KiB
// 114 µs against 23.1 µs (64 MiB chunks; os.File's write: 6.7 and 19.1 µs;
// BenchmarkAppend in bench/). (A pwrite here is two system calls, the
// pwrite and the fstat of chunkFileIO's check.)
// Writes over bytes the dataset holds keep bulkWrite: a store to a page
// stored to since it was last written back costs no fault.
const growWrite = 8 << 10

// cleanWrites is how many writes under bulkWrite over bytes the dataset
// holds a Manager sends to the chunk files with pwrite between two Syncs,
// where their chunk's mapping is clean (not stored to since the last
// Sync); the rest, every write to a chunk already marked dirty, and the
// writes under growWrite that grow the dataset (Append's among them: they
// fill pages no write made large) store through the mapping.
//
// A store through a shared mapping dirties the whole folio of page cache
// it lands in, and Linux caches a file in folios of up to 2 MiB where it
// was written or read with large write() or read() calls (this package's
// own pwrites of bulkWrite or more among them; mapping faults read
// around in 4 KiB pages). The next fsync writes the whole folio: an 8-byte
// WriteAt then Sync, stored through the mapping, wrote 2 MiB to disk and
// took 0.99 ms on ext4, where sent with pwrite it writes 8 KiB and takes
// 0.22 ms (os.File's WriteAt and Sync: 4 KiB, 0.15 ms; BenchmarkSmallSync
// in bench/, disk-KiB/op). A pwrite marks only the blocks it writes. So a
// program that syncs after a few small writes, as a database commits, has
// them written by block, and one that writes much between syncs pays at
// most a budget of pwrites per Sync (below) before its stores run at
// mapping speed again.
//
// How many: a pwrite that keeps a folio clean spares the next fsync up to
// 2 MiB of writing, a millisecond or more of the device's time; one whose
// folio a later store dirties anyway (a program that writes densely
// between syncs) wastes its time, 2-9 µs. So the budget follows the
// writes, in two ways:
//   - within an interval between Syncs, once it has sent cleanWritesDense
//     pwrites, it sends no more where they average cleanPerFolio or more
//     to each folio they and the write at hand reach (a write to a new
//     folio may go on): writes that dense would dirty those folios
//     through the mapping at a fraction of the time, and the rest of the
//     interval stores through the mapping. The density is the
//     interval's, not a folio's: an interval that begins with 32 writes
//     to one page stores the writes after them, elsewhere too, as every
//     interval did with the fixed budget of 32;
//   - an interval gets cleanWrites after one that did not use all it
//     had, and cleanWritesDense after one that did, save every
//     cleanProbe-th such interval in a row, which has cleanWrites again
//     and finds out whether the writes between syncs have thinned.
//
// 256 random 8-byte writes then Sync on 64 MiB in 2 MiB folios took 22.7
// ms and wrote 64 MiB to the device with a fixed budget of 32 (every folio
// was stored to), as a store-only mapping does (22.1 ms), and take 9.4 ms
// and write 1 MiB now, as os.File does (10.1 ms). Writes that dirty every
// folio either way keep their time: 4,096 over the 64 MiB, 23.8 and
// 23.0 ms (p = 0.49; 32.6 ms against 23.7 with a fixed budget of 1,024,
// in an earlier run), 1,000 within one 4 KiB page 1.31 and 1.18 ms
// (p = 0.18), which os.File's 1,000 pwrites take 6.9 ms for.
// BenchmarkSmallSync in bench/, test binaries of both versions run in
// turn, 6 rounds, benchstat medians.
const (
	cleanWrites      = 1024
	cleanWritesDense = 32
	cleanPerFolio    = 16
	cleanProbe       = 8
)

// cleanBudget is what decides, between two Syncs, which small writes to
// chunks with clean mappings go to the files with pwrite (see
// cleanWrites). Manager.mu protects it.
type cleanBudget struct {
	left   int // pwrites the interval may still send
	sent   int // pwrites the interval has sent
	spent  int // Syncs in a row that found left 0
	folios int // folios the interval's pwrites reached: the bits set in seen
	// seen has a bit set at a hash of each folio the interval's pwrites
	// reached. Folios that share a bit count once, so folios is at most
	// their number: with 4,096 bits and cleanWrites folios, about 12 %
	// less.
	seen [64]uint64
}

// take reports whether a small write to the folio numbered key goes to its
// file with pwrite, and counts it if so.
func (c *cleanBudget) take(key int64) bool {
	if c.left == 0 {
		return false
	}
	h := uint64(key) * 0x9e3779b97f4a7c15 >> 52 // 12 bits: a bit of seen
	if w, bit := &c.seen[h>>6], uint64(1)<<(h&63); *w&bit == 0 {
		*w |= bit
		c.folios++
	}
	if c.sent >= cleanWritesDense && c.sent >= cleanPerFolio*c.folios {
		c.left = 0 // dense: the rest of the interval stores
		return false
	}
	c.left--
	c.sent++
	return true
}

// next begins the interval a Sync begins, from how the interval it ends
// spent its budget.
func (c *cleanBudget) next() {
	switch {
	case c.left > 0:
		c.spent = 0
		c.left = cleanWrites
	case (c.spent+1)%cleanProbe == 0:
		c.spent++
		c.left = cleanWrites
	default:
		c.spent++
		c.left = cleanWritesDense
	}
	c.sent, c.folios = 0, 0
	clear(c.seen[:])
}

// cleanWriteLocked reports whether a write under bulkWrite at off, to mp's
// chunk, goes to its file with pwrite (see cleanWrites), and counts it if
// so. A chunk held writable (a pin, a Batch) is not: its holder's stores
// dirty its folios whatever the write does. Nor is one whose file under
// its name is not the one mapped (pwritesMappedLocked).
//
// REQUIRES: m.mu held.
func (m *Manager) cleanWriteLocked(mp *mapping, off int64) bool {
	if m.mu.clean.left == 0 || mp.s.isDirty() || mp.s.wholds.Load() > 0 || !m.pwritesMappedLocked(mp) {
		return false
	}
	// A folio lies within one chunk file, and is at most 2 MiB where
	// pages are 4 KiB (x86-64). Where they are larger (arm64 with 64 KiB
	// pages), folios may be too; the key then counts one as several,
	// and more writes go by pwrite, which costs time, never data.
	return m.mu.clean.take(off >> min(m.shift, 21))
}

// pwritesMappedLocked reports whether a pwrite to mp's chunk goes to the
// file mp maps. A pwrite goes through the descriptor cache's file of the
// chunk, opened by name where the cache has none (a mapped chunk's file
// leaves the cache for its mapping: takeFdLocked); another program may have
// replaced the file under the name since the chunk was mapped, and a
// pwrite would then land in the new file while ReadAt reads, and Sync
// checks, the mapped one: the write would not be read back, and Sync would
// not report the replacement. Such a write stores through the mapping, as
// every write to the chunk did before, and Sync reports the loss.
//
// REQUIRES: m.mu held.
func (m *Manager) pwritesMappedLocked(mp *mapping) bool {
	e, err := m.fdLocked(mp.index)
	if err != nil {
		// The mapping's path says what is wrong, if anything is.
		return false
	}
	same := os.SameFile(e.f.Info(), mp.file.Info())
	m.releaseFdLocked(e)
	return same
}

// write stores p at offset off, bytes below the reservation of the last
// growth, a chunk at a time (see cleanWrites). The chunks exist.
func (m *Manager) write(p []byte, off int64) (int, error) {
	return m.writeIn(p, off, true)
}

// writeIn is write, and with clean false, for a write that grows the
// dataset (writeGrown) or a value of a Scatter (scatterOne), the same
// without sending small writes to the files (see cleanWrites).
func (m *Manager) writeIn(p []byte, off int64, clean bool) (int, error) {
	if len(p) >= bulkWrite {
		return m.writeFiles(p, off)
	}
	if m.hotWriteSpan(p, off, false) {
		return len(p), nil
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		k := int(min(int64(len(p)-n), m.chunkSize-o&m.mask))
		switch m.hotWrite1(p[n:n+k], o, false) {
		case storedClean:
			m.markStored(o >> m.shift)
		case notStored:
			if w, err := m.writeSlow(p[n:n+k], o, clean); err != nil {
				return n + w, err
			}
		}
		n += k
	}
	return n, nil
}

// writeFiles writes p at offset off to the chunk files with pwrite, chunk
// by chunk, on this goroutine. (A growth write across many small chunks is
// spread over two goroutines instead: see spread.go.) The piece of a
// mapped chunk whose file is no longer the one under its name (another
// program replaced it) is stored through the mapping instead, as a small
// write's is (see pwritesMappedLocked): ReadAt reads it back, and Sync
// reports the replacement.
func (m *Manager) writeFiles(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		o := off + int64(n)
		if err := m.lockChunk(p[n:], o); err != nil {
			return n, err
		}
		if mp := m.mappingLocked(o >> m.shift); mp != nil && !m.pwritesMappedLocked(mp) {
			m.mu.Unlock()
			k := int(min(int64(len(p)-n), m.chunkSize-o&m.mask))
			w, err := m.writeSlow(p[n:n+k], o, false)
			n += w
			if err != nil {
				return n, err
			}
			continue
		}
		k, err := m.fileIOLocked(p[n:], o, true)
		n += k
		if err != nil {
			return n, err
		}
	}
	return len(p), nil
}

// readSlowHook, if set, runs as readSlow begins: tests set it
// (export_test.go) to truncate the dataset under a read, which otherwise
// only a concurrent Truncate does.
var readSlowHook func()

// writeSlow stores p, which lies within one chunk, at offset off, holding
// mu (see readSlow), and marks the chunk dirty; with clean, it may send p
// to the file instead (see cleanWrites). After an error, n counts the
// bytes of p a pwrite reported written (none after a fault).
func (m *Manager) writeSlow(p []byte, off int64, clean bool) (n int, err error) {
	if err := m.lockChunk(p, off); err != nil {
		return 0, err
	}
	mp, err := m.mapForIOLocked(off>>m.shift, "write", false)
	if err != nil {
		m.mu.Unlock()
		return 0, err
	}
	if mp == nil || clean && m.cleanWriteLocked(mp, off) ||
		m.holesBeforeLocked(mp.index, off&m.mask, off&m.mask+int64(len(p))) && m.pwritesMappedLocked(mp) {
		return m.fileIOLocked(p, off, true)
	}
	if err := m.allocLocked(mp.index, off&m.mask+int64(len(p))); err != nil {
		if isSpaceErr(err) {
			// A full disk, where the blocks a store through the
			// mapping needs around p (see maxFolio) are not known to
			// be allocated: pwrite stores p alone, and fails by
			// itself if p's own blocks are not allocated.
			return m.fileIOLocked(p, off, true)
		}
		m.mu.Unlock()
		return 0, err
	}
	if m.mappingLocked(mp.index) != mp {
		// The allocation opened the chunk's file, and the system refused
		// it a descriptor until the Manager gave back its unheld
		// mappings, this one among them (withFilesLocked): pwrite it.
		return m.fileIOLocked(p, off, true)
	}
	dst := m.slotBytes(int64(mp.k), off&m.mask, len(p))
	f := copyGuarded(dst, p)
	mp.s.used.Store(true)
	m.markDirtyLocked(mp)
	m.mu.Unlock()
	if f.hit {
		if err := m.bufferFault(f, dst); err != nil {
			return 0, err
		}
		// A store through a mapping faults also where the file system
		// cannot reserve the blocks the page's write-back needs: on a
		// full copy-on-write file system (btrfs), bytes allocated and
		// written before are written back to new blocks. pwrite fails
		// there by itself, with ENOSPC (ErrNoSpace), or stores p where
		// there was room after all; a file truncated by another
		// program fails both ways, as in ReadAt (ErrFault).
		if k, err := m.fileIO(p, off, true); err == nil || isSpaceErr(err) {
			return k, err
		}
		return 0, faultErr(mp, f)
	}
	return len(p), nil
}

// sparseAlloc bounds what a chunk's allocated prefix may take on disk where
// it must cross holes to reach a store: sparseAlloc times the bytes pwrite
// has written into the chunk (see holesBeforeLocked).
const sparseAlloc = 16

// holesBeforeLocked reports whether a store through the mapping of chunk
// idx of the bytes [o, end) (within the chunk) should go to the file with
// pwrite instead, which allocates the blocks it writes and no others: the
// store begins past a hole of the chunk that allocLocked would allocate,
// the prefix it would allocate, up to end rounded up to a step, is more
// than sparseAlloc times what pwrite has written into the chunk, and the
// file's blocks do not cover it whole already (a Grow's do).
// Such are the writes of a program that Truncates a dataset to its full
// size and fills it at random (a hash table, a bitmap): allocating the
// prefix up to each of them took 9.6 GB of disk for 1,536 random 4 KiB
// writes into a sparse dataset of 16 GiB in 1 GiB chunks, where an os.File
// took 16 MB for 4,096. Writes that go on coming (or come again to the
// same place, as to a hash table's busy buckets) earn the chunk its
// prefix, and then store through the mapping, lock-free, with at most
// sparseAlloc times their bytes allocated for it. The file system's
// holes (SEEK_HOLE) only choose the way and are never taken for
// allocation: a store that begins within the chunk's allocated prefix or
// its written bytes, or right at their end, allocates the prefix as
// before (fallocate, whose allocation stores through the mapping rely
// on), so a dataset filled in order, and one written before and opened
// again, stores through its mapping from the start. Where the file system
// cannot say (or the chunk's file cannot be opened, which allocLocked
// then reports), it reports false. (A caller that pwrites a mapped chunk
// checks that its file is still the one mapped: pwritesMappedLocked.)
//
// REQUIRES: m.mu held.
func (m *Manager) holesBeforeLocked(idx, o, end int64) bool {
	a := m.mu.alloc[idx]
	have := a.end
	if o <= have {
		return false
	}
	to := min(m.chunkSize, (end+m.allocStep-1)/m.allocStep*m.allocStep)
	if to <= sparseAlloc*a.pwritten {
		return false
	}
	e, err := m.fdLocked(idx)
	if err != nil {
		return false
	}
	defer m.releaseFdLocked(e)
	if hole, err := e.f.FirstHole(have); err != nil || o <= hole {
		return false
	}
	// ext4 and XFS call blocks allocated but never written holes: a chunk
	// a Grow allocated whole, in a Manager opened since (mu.alloc starts
	// empty), would send its writes to pwrite until they earned a prefix
	// it has. Where the file's blocks cover its size, allocating up to the
	// store takes no disk it does not have.
	b, err := e.f.AllocatedBytes()
	return err != nil || b < m.chunkSize
}

// checkRange checks that [off, off+n) lies within [Start, Size).
func (m *Manager) checkRange(op string, off int64, n int) error {
	if d := m.rangeDetail(off, int64(n)); d != "" {
		return m.errorf(op, at(off, int64(n)), ErrOutOfRange, d)
	}
	return nil
}

// shrankSince reports whether the dataset may have shrunk since the shrink
// epoch was shrinks and Size size, loaded in that order before the range
// was checked: whether a read that met errPastEnd meanwhile can be tried
// again with hope of another result. A follower takes its writer's state
// first: a writer that deletes a chunk file moves the epoch before, so a
// follower that found the file gone before it saw the epoch move sees it
// now; an error of that (pageGone) is returned. Size grown meanwhile does
// not count: growth takes no chunk file away, and a reader that tried
// again for it would do so for as long as its writer appends.
func (m *Manager) shrankSince(shrinks uint64, size int64) (bool, error) {
	moved := func() bool { return m.shrinks.Load() != shrinks || m.state().size.Load() < size }
	if !moved() && m.follows.Load() {
		if err := m.pull(); err != nil {
			return false, err
		}
	}
	return moved(), nil
}

// rangeDetail says why [off, off+n) does not lie within [Start, Size), or
// returns "" if it does.
func (m *Manager) rangeDetail(off, n int64) string {
	switch start, size := m.state().start.Load(), m.state().size.Load(); {
	case n < 0:
		return "negative length"
	case off < 0:
		return "negative offset"
	case n > maxOffset-off:
		return "end overflows int64"
	case off < start:
		return fmt.Sprintf("below start %d", start)
	case off+n > size || (n == 0 && off >= size):
		return fmt.Sprintf("past size %d", size)
	}
	return ""
}
