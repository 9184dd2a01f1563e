package chunkmap

// This file holds growth and shrinking: creating chunk files, Grow,
// Truncate, DropBefore and deleting chunk files.

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"slices"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// growLocked creates chunk files until the capacity reaches end. If a
// creation fails, the chunks this call created are removed again. New
// files are sparse (allocated on disk as writes reach them, see
// allocLocked) and not synced: the next Sync fsyncs them and the
// directory, before its record can need them. Its errors, and those of
// the functions below, do not name the operation or the directory: the
// caller's do (wrapErr).
//
// how says how the files are made (growHow). With growPausing the chunks
// count in the dataset (nchunks) as their files are made, so that each
// time mu is let go they are spare chunks past Size, as Grow's are; but
// they are not queued for Sync (adoptLocked): growLocked returns them, for
// the caller to adopt once it is done with them (see fileRun).
//
// REQUIRES: m.mu held; for growPausing, resize held for writing.
func (m *Manager) growLocked(end int64, how growHow) (unadopted []madeChunk, err error) {
	// The chunks the growth before owes are settled first, so that those
	// owed are always the latest growth's (ahead.go).
	if err := m.settleAllLocked(); err != nil {
		return nil, fmt.Errorf("grow to %d bytes: %w", end, classify(err))
	}
	last := m.mu.first + m.mu.nchunks // index of the next chunk to create
	need := chunksFor(end, m.shift)
	if need <= last {
		return nil, nil
	}
	// Refuse at once what cannot fit, rather than create files until the
	// disk is full and then remove them: a write at offset 1<<62 is valid
	// input, not a reason to fill a file system. Growth by a few chunks,
	// the common case, is left to the allocation to refuse, and so is any
	// growth where freeSpace cannot tell (a file system that counts no
	// blocks reports 0 free; for ramfs and a tmpfs without a size limit
	// freeSpace gives the memory and swap instead).
	if need-last <= 16 {
	} else if avail, err := m.freeSpace(); err == nil && need-last > avail/m.chunkSize {
		return nil, fmt.Errorf("%w: growth to %d bytes needs %d chunks of %d bytes, %d bytes free",
			ErrNoSpace, end, need-last, m.chunkSize, avail)
	}
	if how == growAhead && need-last > 1 && m.mu.probed && !m.fillChunks && !m.opts.Scratch {
		// A bulk write: the first chunk's file now, the others' on the
		// maker while the write fills the first.
		id, err := m.createLocked(last)
		if err != nil {
			return nil, fmt.Errorf("grow to %d bytes: %w", end, classify(err))
		}
		m.adoptLocked(last, id) // not a scratch chunk (see the condition)
		for idx := last + 1; idx < need; idx++ {
			m.forgetAllocLocked(idx)
		}
		m.mu.nchunks = need - m.mu.first
		m.oweLocked(last+1, need)
		return nil, nil
	}
	for idx := last; idx < need; idx++ {
		id, err := m.createLocked(idx)
		if err != nil {
			err = errors.Join(err, m.unmakeLocked(last, idx))
			m.mu.nchunks = last - m.mu.first
			return nil, fmt.Errorf("grow to %d bytes: %w", end, classify(err))
		}
		switch {
		case id == nil: // a scratch chunk: no file to sync
		case how != growPausing:
			m.adoptLocked(idx, id)
		default:
			unadopted = append(unadopted, madeChunk{idx, id})
		}
		if how == growPausing && (idx+1-last)%fileRun == 0 && idx+1 < need {
			m.mu.nchunks = idx + 1 - m.mu.first
			m.letGoLocked(idx)
		}
	}
	m.mu.nchunks = need - m.mu.first
	return unadopted, nil
}

// madeChunk is a chunk file that a growth made, and id its identity, for
// adoptLocked.
type madeChunk struct {
	idx int64
	id  fs.FileInfo
}

// growHow says how growLocked makes the chunk files a growth needs.
type growHow uint8

const (
	// growHere makes them all under mu, which it holds throughout.
	growHere growHow = iota
	// growAhead, for a bulk write, makes the first now and hands the
	// others to the maker (ahead.go), which makes them while the write
	// fills the first.
	growAhead
	// growPausing makes them all under mu, letting go of it after every
	// fileRun files, for a caller that holds resize for writing (see
	// fileRun).
	growPausing
)

// unmakeLocked removes the chunk files [from, to) that growth has just
// created, as a shrink deletes chunks (deleteChunksLocked): the write that
// failed may have mapped and stored to one of them, and a mapping left in
// its slot would take later stores to the removed file, and Sync would
// report its dirty flag as writes lost.
//
// REQUIRES: m.mu held.
func (m *Manager) unmakeLocked(from, to int64) error {
	// The chunks owed, if any, are among them (ahead.go); those never
	// created keep their names.
	never := m.cancelLocked()
	if from >= to {
		return nil
	}
	return m.deleteChunksLocked(from, to, never, false)
}

// growThenLocked is growLocked(end, how) followed by then (zeroing, allocating
// blocks): if then fails, on a full disk say, the chunk files the growth
// created are removed again, so that a failed write or Grow leaves the
// dataset as it was.
//
// REQUIRES: m.mu held.
func (m *Manager) growThenLocked(end int64, how growHow, then func() error) error {
	had := m.mu.first + m.mu.nchunks
	made, err := m.growLocked(end, how)
	if err == nil {
		err = then()
	}
	if now := m.mu.first + m.mu.nchunks; err != nil && now > had {
		err = errors.Join(err, m.unmakeLocked(had, now))
		m.mu.nchunks = had - m.mu.first
	}
	if err == nil {
		// A pausing growth's files, once it is done with them: see
		// fileRun.
		for _, c := range made {
			m.adoptLocked(c.idx, c.id)
		}
	}
	return err
}

// createLocked creates the file of chunk idx, keeps it open for the writes
// that follow growth, and returns its identity, for the caller to record
// it for the next Sync (adoptLocked) when it is done with it; nil for a
// scratch chunk, which has no file to sync.
//
// REQUIRES: m.mu held.
func (m *Manager) createLocked(idx int64) (fs.FileInfo, error) {
	f, err := m.createFileLocked(idx)
	if err != nil || f == nil {
		return nil, err
	}
	m.adviseFile(f, true) // for the preads and pwrites through it once cached
	id := f.Info()
	if err := m.keepFdLocked(idx, f); err != nil {
		return nil, errors.Join(err, removeFile(m.fsys, f.Path()))
	}
	return id, nil
}

// createChunkLocked creates chunk idx's file (chunk.Create), given back
// idle descriptors if refused (see withFilesLocked).
//
// REQUIRES: m.mu held.
func (m *Manager) createChunkLocked(idx int64) (f *chunk.File, err error) {
	err = m.withFilesLocked(true, func() error {
		f, err = chunk.Create(m.fsys, m.dir, idx, m.chunkSize, m.opts.FileMode)
		return err
	})
	return f, err
}

// createFileLocked creates the file of chunk idx and returns it, or for a
// scratch dataset keeps it and returns nil.
//
// REQUIRES: m.mu held.
func (m *Manager) createFileLocked(idx int64) (*chunk.File, error) {
	var f *chunk.File
	var err error
	if m.opts.Scratch {
		// A scratch chunk's file lives only through its descriptor,
		// which the Manager holds until the chunk goes: counted, so that
		// a growing scratch dataset cannot take the rest of the
		// program's descriptors (reserveScratchFile).
		if old := m.mu.scratch[idx]; old != nil {
			// Removed by a Truncate, its file kept until a pin let go
			// of it (where unmapBeforeRemove): the chunk made anew
			// replaces it, and the old file goes now.
			delete(m.mu.scratch, idx)
			delete(m.mu.removeLater, idx)
			unreserveScratchFile(m.scratchFiles)
			old.Close()
		}
		if err := reserveScratchFile(m.scratchFiles); err != nil {
			return nil, fmt.Errorf("create %s: %w", m.chunkPath(idx), err)
		}
		// Given back descriptors if refused, as a named chunk's creation
		// is: every mapped scratch chunk holds one of its own (a clone
		// of its file), which only unmapping it frees.
		err = m.withFilesLocked(true, func() error {
			f, err = chunk.CreateScratch(m.fsys, m.dir, idx, m.chunkSize, m.opts.FileMode)
			return err
		})
		if err != nil {
			unreserveScratchFile(m.scratchFiles)
		}
	} else {
		f, err = m.createChunkLocked(idx)
		if _, later := m.mu.removeLater[idx]; errors.Is(err, fs.ErrExist) && !later {
			// A regular file past the dataset's end holds nothing of
			// it: one that a Truncate failed to delete (a file made
			// immutable, say), or that another program put there. Open
			// would remove it; so does growth, once, and then creates
			// anew. Anything else under the name (a directory, a link)
			// is left alone, as Open leaves it, and refuses the growth.
			// A following reader may still use the old file: the epoch
			// moves before it goes and again once the new one stands,
			// as around deleteChunksLocked's unlinks.
			fi, lerr := m.fsys.Lstat(m.chunkPath(idx))
			if lerr == nil && !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%w: %s is not a regular file (it is %s): the chunk cannot be created", ErrCorrupt, m.chunkPath(idx), vfs.Kind(fi.Mode()))
			}
			if lerr == nil {
				m.bumpEpochLocked()
				if rerr := removeFile(m.fsys, m.chunkPath(idx)); rerr != nil {
					// The removal's error is the reason, and
					// names the file; "file exists" is none.
					return nil, fmt.Errorf("%w (a file past Size stands under the chunk's name, and growth removes it first)", rerr)
				}
				f, err = m.createChunkLocked(idx)
				m.bumpEpochLocked()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	// Where the file system cannot allocate a range, every new chunk is
	// written whole now, while nothing else can use it, so that no store
	// through a mapping ever needs a block the disk has not got. A
	// read-write Open asks the file system with the manifest (newManager);
	// a scratch dataset, which has none, with its first chunk's first
	// block.
	if !m.mu.probed {
		m.mu.probed = true
		m.fillChunks = errors.Is(f.Allocate(0, 1), errors.ErrUnsupported)
	}
	m.forgetAllocLocked(idx)
	if m.fillChunks {
		err = f.Fill()
		m.mu.alloc[idx] = chunkAlloc{end: m.chunkSize}
	}
	if m.opts.Scratch {
		if err != nil {
			unreserveScratchFile(m.scratchFiles)
			return nil, errors.Join(err, f.Close())
		}
		m.mu.scratch[idx] = f
		return nil, nil
	}
	if err != nil {
		return nil, errors.Join(err, f.Close(), removeFile(m.fsys, f.Path()))
	}
	return f, nil
}

// allocStep returns the granularity in which chunk files of chunkSize bytes
// are allocated on disk ahead of writes: a sixteenth of the chunk, from
// 64 KiB to 64 MiB (64 MiB for the default 1 GiB chunks), at least align
// (the chunk's allocAlign), and never more than the chunk. It is a multiple
// of align.
func allocStep(chunkSize, align int64) int64 {
	return min(chunkSize, max(MinChunkSize, align, min(chunkSize/16, 64<<20)))
}

// maxFolio bounds the folios in which the page cache keeps a file's bytes:
// runs of pages up to a page table's span (2 MiB with 4 KiB pages), or 2^11
// pages where that is less, each aligned to its size. A store through a
// mapping into a folio makes a disk file system allocate blocks for the
// whole folio (Linux's page_mkwrite), and on a full disk a folio that
// reaches past the allocated blocks makes that store a SIGBUS, although its
// own bytes are allocated. (Where a block is smaller than a page, the same
// holds page by page.)
var maxFolio = func() int64 {
	page := int64(os.Getpagesize())
	return page << min(bits.Len64(uint64(page/8))-1, 11)
}()

// allocAlign returns the granularity of the allocated prefix of a chunk of
// chunkSize bytes: the prefix that stores through a mapping may count as
// allocated ends at a multiple of it, or at the chunk's end, so that no
// folio a store reaches is partly a hole (see maxFolio). On tmpfs, whose
// fallocate allocates whole folios (pages, or huge pages where it is
// mounted with them), a page is enough.
func allocAlign(chunkSize int64, tmpfs bool) int64 {
	if tmpfs {
		return min(chunkSize, int64(os.Getpagesize()))
	}
	return min(chunkSize, maxFolio)
}

// allocLocked makes sure the first end bytes of chunk idx are allocated on
// disk, allocating in steps of allocStep, so that stores through a mapping
// there cannot fault for lack of space: a full disk is an error of the
// call that writes, not a SIGBUS. Within a chunk the allocated bytes are a
// prefix; chunks never written stay holes.
//
// REQUIRES: m.mu held.
func (m *Manager) allocLocked(idx, end int64) error {
	have := m.mu.alloc[idx].end
	if end <= have {
		return nil
	}
	to := min(m.chunkSize, (end+m.allocStep-1)/m.allocStep*m.allocStep)
	e, err := m.fdLocked(idx)
	if err != nil {
		return chunkError(err)
	}
	err = e.f.Allocate(have, to-have)
	if up := (end + m.allocAlign - 1) &^ (m.allocAlign - 1); err != nil && isSpaceErr(err) && to > up {
		// The step reaches past end into bytes not allocated yet, on a
		// full disk: the bytes up to end may be allocated already (a
		// Manager opened again does not know how far its chunks are;
		// allocating what is allocated needs no space), so that much
		// is asked for alone, rounded up to allocAlign (see maxFolio).
		if err = e.f.Allocate(have, up-have); err == nil {
			to = up
		}
	}
	m.releaseFdLocked(e)
	if errors.Is(err, errors.ErrUnsupported) {
		// The chunk was written whole when it was created (fillChunks).
		to, err = m.chunkSize, nil
	}
	if err != nil {
		return spaceErr(err)
	}
	m.noteAllocLocked(idx, to)
	return nil
}

// chunkAlloc is what a Manager knows of a chunk file's blocks on disk.
type chunkAlloc struct {
	// end is how far from the chunk's start the file is known to be
	// allocated: the allocated prefix (absent: none).
	end int64
	// pwritten is the bytes pwrite wrote into the chunk, in whole
	// blocks of 4 KiB, counted over again where a write repeats: what a
	// store into the chunk past holes may allocate (holesBeforeLocked).
	pwritten int64
}

// forgetAllocLocked forgets what the Manager knew of the allocation of
// chunk idx, whose file is new or gone.
//
// REQUIRES: m.mu held.
func (m *Manager) forgetAllocLocked(idx int64) {
	delete(m.mu.alloc, idx)
}

// noteAllocLocked records that the first to bytes of chunk idx are
// allocated on disk, where the lock-free writers of its slot see it too.
//
// REQUIRES: m.mu held.
func (m *Manager) noteAllocLocked(idx, to int64) {
	a := m.mu.alloc[idx]
	a.end = to
	m.mu.alloc[idx] = a
	if mp := m.mappingLocked(idx); mp != nil {
		mp.s.alloc.Store(to)
	}
}

// allocRangeLocked is allocLocked for the bytes [off, off+n) of the
// dataset, across chunks. With pausing it lets go of mu after every
// fileRun chunks (see fileRun).
//
// With spans, the range is a write's that extends the dataset, whose
// writer uses it once: a piece that begins past a hole of its chunk beyond
// the allocated prefix (a write far past Size into a sparse chunk; see
// holesBeforeLocked) has only its own blocks allocated, so that it cannot
// fail for lack of space once claimed, and the prefix stays where it is:
// such writes take the disk space of their bytes, not of every byte before
// them in the chunk. No store through the mapping relies on those blocks
// (a store there finds the prefix short of it and goes the locked way,
// writeSlow, which allocates the prefix first or pwrites; pins allocate
// their own range without spans), so they need not be whole folios.
//
// REQUIRES: m.mu held; for pausing, resize held for writing.
func (m *Manager) allocRangeLocked(off, n int64, pausing, spans bool) error {
	for done := 1; n > 0; done++ {
		idx := off >> m.shift
		o := off & m.mask
		k := min(n, m.chunkSize-o)
		if spans && m.holesBeforeLocked(idx, o, o+k) {
			if err := m.allocSpanLocked(idx, o, o+k); err != nil {
				return err
			}
		} else if err := m.allocLocked(idx, o+k); err != nil {
			return err
		}
		off += k
		n -= k
		if pausing && done%fileRun == 0 && n > 0 {
			m.letGoLocked(idx)
		}
	}
	return nil
}

// allocSpanLocked allocates the blocks of [from, to) of chunk idx on disk,
// without moving the chunk's allocated prefix (see allocRangeLocked).
//
// REQUIRES: m.mu held.
func (m *Manager) allocSpanLocked(idx, from, to int64) error {
	e, err := m.fdLocked(idx)
	if err != nil {
		return chunkError(err)
	}
	err = e.f.Allocate(from, to-from)
	m.releaseFdLocked(e)
	if errors.Is(err, errors.ErrUnsupported) {
		// The chunk was written whole when it was created (fillChunks).
		return nil
	}
	return spaceErr(err)
}

// allocDownLocked is allocRangeLocked for the bytes [from, to), one
// allocation per chunk, the last chunk first. It is for tmpfs, where a
// fallocate that fails gives back what it allocated: the chunks before the
// one that failed are those growth has just created, which it removes
// again, so a failure leaves the chunks that existed as they were, with no
// allocation past Size.
//
// With pausing it lets go of mu after every fileRun chunks (see fileRun).
//
// REQUIRES: m.mu held; for pausing, resize held for writing.
func (m *Manager) allocDownLocked(from, to int64, pausing bool) error {
	for done := 1; to > from; done++ {
		idx := (to - 1) >> m.shift
		if err := m.allocLocked(idx, to-idx<<m.shift); err != nil {
			return err
		}
		to = max(from, idx<<m.shift)
		if pausing && done%fileRun == 0 && to > from {
			m.letGoLocked(idx)
		}
	}
	return nil
}

// spaceErr marks an error for lack of disk space (ENOSPC, a quota, the
// file size limit) with ErrNoSpace.
func spaceErr(err error) error {
	if err != nil && isSpaceErr(err) && !errors.Is(err, ErrNoSpace) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// zeroStaleLocked makes the bytes [reserved, end) that may be stale (below
// hwm) read as zeros, for a growth to end, and lowers hwm as far as it
// gets. Stale bytes within a chunk's allocated prefix (mu.alloc) are
// zeroed in place and stay allocated, since stores through the mapping go
// there without taking a lock. Stale bytes past the prefix are given back
// to the file system as a hole (chunk.File.Discard), or zeroed in place
// where it cannot punch holes (holesLocked): zeros there would take disk space that
// bytes never written do not take, up to a whole chunk's for a growth
// after a Truncate or an Open. Past end the holes are punched too, up to
// hwm, if the file system can: a stream of appends over them then has
// nothing to zero, where it would zero each append's bytes with calls of
// its own. The chunks are remembered for the next Sync.
//
// REQUIRES: m.mu held.
func (m *Manager) zeroStaleLocked(end int64) error {
	from, hwm := m.mu.reserved, m.mu.hwm
	for to := min(end, hwm); from < to; {
		idx, stop, have := m.staleSpan(from, to)
		if err := m.zeroChunkLocked(idx, from, min(stop, max(from, have)), false); err != nil {
			return err
		}
		if u := max(from, have); u < stop {
			err := errors.ErrUnsupported
			if m.holesLocked() {
				err = m.zeroChunkLocked(idx, u, stop, true)
			}
			if errors.Is(err, errors.ErrUnsupported) || isSpaceErr(err) {
				// No hole (or none on a full disk, where ext4 may need
				// a block to split an extent): zeros.
				err = m.zeroChunkLocked(idx, u, stop, false)
			}
			if err != nil {
				return err
			}
		}
		from = stop
	}
	// Past end, what a hole can take becomes one. Stale bytes left in an
	// allocated prefix keep hwm where that prefix ends; a failure keeps
	// it where it was.
	stale := from
	for from < hwm {
		if !m.holesLocked() {
			return nil
		}
		idx, stop, have := m.staleSpan(from, hwm)
		if from < have {
			stale = min(stop, have)
		}
		if u := max(from, have); u < stop && m.zeroChunkLocked(idx, u, stop, true) != nil {
			return nil
		}
		from = stop
	}
	m.mu.hwm = stale
	return nil
}

// holesLocked reports whether zeroStaleLocked may punch holes: not where
// the file system cannot (mu.noHoles), nor where a read of a hole through a
// mapping needs a page of the file system's own (holesFault: tmpfs), which
// a pin holding bytes past Size since a Truncate would take on its next
// read, a fault on a full tmpfs.
//
// REQUIRES: m.mu held.
func (m *Manager) holesLocked() bool { return !m.mu.noHoles && !m.holesFault }

// staleSpan returns the chunk of offset from, where the span [from, to)
// ends in it, and the end of the chunk's allocated prefix, as offsets in
// the dataset.
//
// REQUIRES: m.mu held.
func (m *Manager) staleSpan(from, to int64) (idx, stop, have int64) {
	idx = from >> m.shift
	// (The chunk's end overflows for the top chunk.)
	return idx, from + min(to-from, m.chunkSize-from&m.mask), idx<<m.shift + m.mu.alloc[idx].end
}

// zeroChunkLocked zeroes the bytes [from, to) of the dataset, which lie in
// chunk idx, with the file system (no mapping needed): in place, or with
// discard as a hole (see zeroStaleLocked). An error matching
// errors.ErrUnsupported means discard could not be, and nothing changed.
//
// REQUIRES: m.mu held.
func (m *Manager) zeroChunkLocked(idx, from, to int64, discard bool) error {
	if from >= to {
		return nil
	}
	e, err := m.fdLocked(idx)
	if err != nil {
		return chunkError(err)
	}
	// Zero and Discard refuse a file another program cut (ErrSize), which
	// chunkError makes a fault, as for a pwrite.
	if discard {
		err = e.f.Discard(from&m.mask, to-from)
	} else {
		err = e.f.Zero(from&m.mask, to-from)
	}
	id := e.f.Info()
	m.releaseFdLocked(e)
	if errors.Is(err, errors.ErrUnsupported) {
		m.mu.noHoles = true
		return err
	}
	if err != nil {
		return chunkError(err) // names the file; the caller names the operation and offset
	}
	m.markFileDirtyLocked(idx, id)
	return nil
}

// Grow makes sure chunks exist for at least n bytes past Size, creating them
// and allocating their blocks on disk now, so later writes up to there
// neither create files nor fail for lack of space. It does not change Size.
// A negative n, or one whose end overflows int64, is ErrOutOfRange. If
// creating a chunk fails it returns the error and leaves the dataset as it
// was.
//
// A Grow that makes more than 16 chunk files holds off Truncate,
// DropBefore, Close and the writes that take the Manager's locks (every
// write past Size, among them) while it runs, and waits for those in
// flight first, so that it can let reads and pins go on between its files
// (see the README's "Concurrency"); a smaller one runs beside writes.
//
// The chunks Grow makes past Size last as long as the Manager, or until a
// Truncate deletes them: the next read-write Open removes every chunk file
// wholly past the recorded Size, as it removes what a crash during growth
// leaves (a ReadOnly Manager does not count them in Stats.Chunks).
func (m *Manager) Grow(n int64) error {
	size := m.state().size.Load()
	// The length as given, negative too: the message names the call's
	// arguments (checkWrite refuses no negative length; the check below
	// does, after ErrClosed, ErrReadOnly and a failed Sync).
	if err := m.checkWrite("grow", at(size, n)); err != nil {
		return err
	}
	if n < 0 {
		return m.errorf("grow", at(size, n), ErrOutOfRange, "negative length")
	}
	if n > maxOffset-size {
		return m.errorf("grow", at(size, n), ErrOutOfRange, "end overflows int64")
	}
	// Writes may run beside a Grow, but one that makes many files holds
	// them off instead, so that it may let go of mu between runs of
	// files (see fileRun). The Grow's end moves with Size, which writes
	// beside it (holding resize for reading) and a Truncate before it may
	// have moved since it was read above: its files are counted under mu,
	// which the growth then keeps (or, for many, with resize held for
	// writing, under which no other call moves Size).
	pausing := false
	m.resize.RLock()
	defer func() { m.unlockResize(pausing) }() // as held when Grow returns
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if !m.live.Load() {
			return m.errorf("grow", at(size, n), ErrClosed, "")
		}
		size = m.state().size.Load()
		if n > maxOffset-size {
			return m.errorf("grow", at(size, n), ErrOutOfRange, "end overflows int64")
		}
		if pausing || !m.manyChunksToLocked(size+n) {
			break
		}
		m.mu.Unlock()
		m.resize.RUnlock()
		m.resize.Lock()
		pausing = true
		m.mu.Lock()
	}
	how := growHere
	if pausing {
		how = growPausing
	}
	err := m.growThenLocked(size+n, how, func() error { return m.allocRangeLocked(size, n, pausing, false) })
	if err == nil {
		// Only a Grow that made its promise keeps a failed write from
		// giving back the chunks it allocated in (publish); a failed one
		// removed what it created.
		m.mu.grows++
	}
	return m.wrapErr("grow", at(size, n), err)
}

// manyChunksToLocked reports whether a growth to end would make more than
// fileRun chunk files, as the dataset stands: such a growth takes resize
// for writing, to let go of mu between runs of them (see fileRun).
//
// REQUIRES: m.mu held.
func (m *Manager) manyChunksToLocked(end int64) bool {
	return chunksFor(end, m.shift)-(m.mu.first+m.mu.nchunks) > fileRun
}

// lockGrowth takes resize for a write that may grow the dataset to end, a
// fixed offset: for writing if it may pause (a growth that lets go of mu
// between its files) and the growth would make more than fileRun chunk
// files, else for reading; it reports which (unlockResize's argument). The
// count is taken with resize held for reading, under which no shrink can
// make the growth larger (a count taken before it could be out of date by
// the time the write grew, and a growth made holding resize for reading
// makes all its files holding mu), while other growth only makes it
// smaller. One that is counted as many and then shrinks while resize is
// let go of and taken for writing only pauses where it need not. (Grow,
// whose end moves with Size, counts under mu instead.)
func (m *Manager) lockGrowth(end int64, mayPause bool) (pausing bool) {
	m.resize.RLock()
	if !mayPause || end <= m.state().size.Load() {
		return false
	}
	m.mu.Lock()
	many := m.manyChunksToLocked(end)
	m.mu.Unlock()
	if !many {
		return false
	}
	m.resize.RUnlock()
	m.resize.Lock()
	return true
}

// unlockResize lets go of resize, held for writing if exclusive, else for
// reading (as lockGrowth reports it took it).
func (m *Manager) unlockResize(exclusive bool) {
	if exclusive {
		m.resize.Unlock()
	} else {
		m.resize.RUnlock()
	}
}

// Truncate sets Size. Chunk files wholly past the new Size are deleted
// (also those Grow made, when the Truncate extends the dataset or keeps its
// Size), and bytes past it read as zeros if the dataset is extended again. Truncating
// below Start returns ErrOutOfRange. A Truncate that extends the dataset
// leaves the new bytes holes on disk (until a later write that allocates
// reaches past them in their chunk, whose allocated blocks are a prefix),
// except on tmpfs, where it allocates them (see the README's "How it
// works") and fails with ErrNoSpace, Size unchanged, if the file system
// cannot hold them. Holes take no space, but a Truncate that adds more
// than 16 chunk files whose whole size the free space could not hold
// fails with ErrNoSpace before it creates any (as every growth does, see
// ErrNoSpace): an absurd Size is refused at once, not found out when the
// disk fills.
//
// Like every change of Size, a Truncate survives a crash of the process as
// soon as it returns, and a power loss once a Sync follows; it syncs
// nothing itself. Before it deletes a chunk file it makes sure that no
// record in the manifest needs the file (lowering the recorded Size to the
// new one if it must, which costs one fsync of the manifest, and fails
// with Size and the chunk files as they were if that write fails), so a
// crash at any point leaves a consistent dataset. If that fsync fails, the
// record's fate is unknown: a power loss may bring the dataset back at
// the new Size, and every later Sync of the Manager fails
// (ErrSyncFailed), so nothing after it is acknowledged as durable. A chunk held by a pin or a
// Batch at the time stays mapped until its last holder releases it; stores
// through its bytes past the new Size after Truncate returns are not the
// dataset's (in a deleted chunk they go nowhere, in a kept one they may
// show once the dataset grows over them again), so stop them first; loads
// through them may see whatever a later growth writes there, zeros
// included. A read (ReadAt, Gather, an atomic load, here or in a following
// reader) that a Truncate overtakes is made again after it, or, in a
// following reader, returns bytes from before it, stopping where the
// Truncate took the rest away; never bytes from before the cut beside the
// zeros with which a growth after it replaces the bytes it cut off. If the system refuses to
// delete a chunk file (a file made immutable, a read-only directory), the
// error matches ErrIO and names the file, but the new Size stands: the file
// stays past Size, where the next growth over it or Open removes it.
func (m *Manager) Truncate(size int64) error {
	unlock, err := m.lockShrink("truncate", size)
	if err != nil {
		return err
	}
	defer unlock()
	st := m.state()
	if start := st.start.Load(); size < start {
		return m.errorf("truncate", atOff(size), ErrOutOfRange, fmt.Sprintf("below start %d", start))
	}
	if size >= st.size.Load() {
		// Spare chunks that Grow made wholly past the new Size go, as
		// a Truncate promises. A reader cannot have opened them (it
		// opens only what [Start, Size) covers). Their chunks exist, so
		// the growth below creates none and keep stays right.
		keep := chunksFor(size, m.shift) - m.mu.first
		spare := keep < m.mu.nchunks
		if spare {
			// Before Size moves, as when shrinking: a record that
			// cannot be written (a full btrfs, a failed device, a
			// manifest replaced) then fails the call with nothing
			// done, as ErrNoSpace and ErrIO promise. The record is
			// never lowered below Size, so this order costs nothing
			// after a crash: it covers no byte the record before did
			// not.
			if err := m.lowerRecordLocked(size); err != nil {
				return m.wrapErr("truncate", atOff(size), err)
			}
		}
		if err := m.reserveLocked(size, size, true, true); err != nil {
			return m.wrapErr("truncate", atOff(size), err)
		}
		st.size.Store(size)
		m.mirrorSizeLocked(size)
		if err := m.pageErrLocked(true); err != nil || !spare {
			return m.wrapErr("truncate", atOff(size), err)
		}
		return m.wrapErr("truncate", atOff(size), m.deletePastLocked(keep))
	}
	keep := chunksFor(size, m.shift) - m.mu.first
	if keep < m.mu.nchunks {
		if err := m.lowerRecordLocked(size); err != nil {
			return m.wrapErr("truncate", atOff(size), err)
		}
	}
	m.beginShrink()
	st.size.Store(size)
	m.mirrorSizeLocked(size)
	// After the new Size is in the page: readers raise Size freely within
	// an epoch, and take the exact value when the epoch moves. The cut is
	// recorded first, for readers whose reads the epoch moves under
	// (followedRead).
	if m.shared != nil {
		m.shared.cutTo(size)
		defer m.shared.cutsDeleted() // once the files are gone, or kept
	}
	m.endShrink()
	// A lock-free store that checked Size before the new one may still be
	// on its way to a chunk kept from here on: it finishes now, before a
	// later growth zeroes [size, hwm), and those after it see the new Size
	// (see slots.go). The chunks about to be deleted need no wait (a store
	// there goes to the removed file), but a page that cannot take the new
	// Size keeps them all, so every chunk from the new Size on is waited
	// for.
	for idx := size >> m.shift; idx < m.mu.first+m.mu.nchunks; idx++ {
		if mp := m.mappingLocked(idx); mp != nil {
			drainWriters(mp.s)
		}
	}
	m.mu.reserved = size
	if err := m.pageErrLocked(true); err != nil || keep >= m.mu.nchunks {
		// A page that could not take the new Size still names the
		// chunks past it, which a crash would bring back: they stay,
		// past Size, as spare chunks growth uses and Open removes.
		return m.wrapErr("truncate", atOff(size), err)
	}
	return m.wrapErr("truncate", atOff(size), m.deletePastLocked(keep))
}

// lowerRecordLocked writes a manifest record that needs no chunk past Size
// size, unless the newest one needs none already, before a Truncate
// deletes them: its Size at most size, from the current first chunk on (a
// record's Size is never below its Start).
//
// REQUIRES: m.mu held.
func (m *Manager) lowerRecordLocked(size int64) error {
	rec := m.recordBaseLocked()
	rec.size = max(min(rec.size, size), rec.first<<m.shift)
	return m.recordBeforeDeleteLocked(rec)
}

// recordBeforeDeleteLocked makes rec the newest record (recordLocked)
// before a Truncate or DropBefore deletes chunk files. Where it is already,
// with nothing to write, it still checks that the manifest is the
// Manager's own, as a write would, so that a call that deletes chunk files
// reports a manifest removed or replaced from outside (ErrCorrupt) with
// nothing done, whether or not its change was recorded before.
//
// REQUIRES: m.mu held.
func (m *Manager) recordBeforeDeleteLocked(rec manifest) error {
	if rec == m.mu.durable && !m.opts.Scratch {
		return m.mfile.stillNamed(m.fsys)
	}
	return m.recordLocked(rec)
}

// deletePastLocked deletes the chunks from the dataset's keep-th on, which
// lie wholly past Size, for a Truncate that lowered the manifest's record
// first (lowerRecordLocked).
//
// REQUIRES: m.mu held, and resize held for writing (no write runs).
func (m *Manager) deletePastLocked(keep int64) error {
	from := m.mu.first + keep
	to := m.mu.first + m.mu.nchunks
	m.mu.nchunks = keep
	m.mu.hwm = min(m.mu.hwm, (m.mu.first+keep)<<m.shift)
	// No chunk is owed while no write runs (ahead.go); were one, the
	// names of those never created would be somebody else's.
	spare := m.cancelLocked()
	return shrinkDeleteErr(m.deleteChunksLocked(from, to, spare, true))
}

// shrinkDeleteErr marks the error of a Truncate's or DropBefore's deletion
// of chunk files with ErrIO, as their docs promise: the new Size or Start
// stands. A refusal for want of space (an unlink on a full btrfs, which
// rewrites metadata) would otherwise be classified ErrNoSpace, which says
// that nothing was done.
func shrinkDeleteErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrIO, err)
}

// beginShrink and endShrink bracket a change of Size or Start: the epoch
// that batches check moves before the new value can be seen and again
// after, and while the change is under way no batch caches what it reads
// (see shrinking). So a batch never hands out, from what it cached, bytes
// that a caller could already have seen go out of range.
func (m *Manager) beginShrink() {
	m.shrinking.Add(1)
	m.shrinks.Add(1)
}

// endShrink ends what beginShrink began.
func (m *Manager) endShrink() {
	m.shrinks.Add(1)
	m.shrinking.Add(-1)
}

// lockShrink checks what a call that shrinks the dataset (Truncate,
// DropBefore) at offset off must, and takes every lock it needs, in order:
// resize exclusively (no extension is half done), syncMu, then mu. It
// returns the function that releases them.
func (m *Manager) lockShrink(op string, off int64) (unlock func(), err error) {
	if err := m.checkWrite(op, atOff(off)); err != nil {
		return nil, err
	}
	m.resize.Lock()
	m.syncMu.Lock()
	m.mu.Lock()
	unlock = func() {
		m.mu.Unlock()
		m.syncMu.Unlock()
		m.resize.Unlock()
	}
	if !m.live.Load() {
		unlock()
		return nil, m.errorf(op, atOff(off), ErrClosed, "")
	}
	// The state page must hold the current Start and Size before the
	// call changes them and deletes files: a page left behind (a fault
	// hit it) would name chunks the call deletes.
	if err := m.pageErrLocked(false); err != nil {
		unlock()
		return nil, m.wrapErr(op, atOff(off), err)
	}
	return unlock, nil
}

// DropBefore deletes every chunk that lies wholly below offset off, for
// retention in log and segment stores, and moves Start up to the first
// remaining chunk (off rounded down to a multiple of ChunkSize). Offsets of
// the remaining bytes do not change. Dropping past Size, or at a negative
// offset, returns ErrOutOfRange; dropping at or below Start otherwise does
// nothing. Like Truncate, it survives a process crash at once and a power
// loss after the next Sync, and it records the new Start in the manifest
// (one fsync of the manifest, no temporary file, so it works on a full
// disk) before it deletes any file; if that write fails, DropBefore fails
// with Start as it was, and if its fsync fails, as Truncate's may, a power
// loss may still bring the dataset back at the new Start (see Truncate). If
// the system refuses to delete one,
// the error matches ErrIO and names the file, but the new Start stands:
// the file stays below Start, where the next read-write Open removes it
// (or leaves it, if the system still refuses, and opens the dataset).
func (m *Manager) DropBefore(off int64) error {
	unlock, err := m.lockShrink("drop", off)
	if err != nil {
		return err
	}
	defer unlock()
	st := m.state()
	if size := st.size.Load(); off > size {
		return m.errorf("drop", atOff(off), ErrOutOfRange, fmt.Sprintf("past size %d", size))
	}
	newFirst := off >> m.shift
	if newFirst<<m.shift <= st.start.Load() {
		return nil
	}
	rec := m.recordBaseLocked()
	rec.first = newFirst
	rec.size = max(rec.size, newFirst<<m.shift)
	if err := m.recordBeforeDeleteLocked(rec); err != nil {
		return m.wrapErr("drop", atOff(off), err)
	}
	m.beginShrink()
	st.start.Store(newFirst << m.shift)
	if m.shared != nil {
		m.shared.setStart(newFirst<<m.shift, st.size.Load())
	}
	m.endShrink()
	oldFirst := m.mu.first
	m.mu.nchunks -= newFirst - oldFirst
	m.mu.first = newFirst
	if err := m.pageErrLocked(true); err != nil {
		// The page still names the chunks below the new Start: their
		// files stay, as after a crash inside DropBefore, for Open to
		// remove. They are out of the dataset all the same, and so out
		// of use: ReadAt's and WriteAt's lock-free paths do not check
		// Start, they find a chunk taken away by its cleared own word
		// (see slots.go).
		m.retireChunksLocked(oldFirst, newFirst)
		return m.wrapErr("drop", atOff(off), err)
	}
	return m.wrapErr("drop", atOff(off), shrinkDeleteErr(m.deleteChunksLocked(oldFirst, newFirst, nil, true)))
}

// deleteChunksLocked unmaps (or dooms, if held) and removes chunk files
// [from, to), but for the names in spare, whose files the caller never
// created (see cancelLocked); the next Sync syncs the directory. The state
// page's epoch moves first, so readers in other processes stop using the
// files. Files go from the highest index down: a crash part way leaves the
// chunks that remain without a gap (those below Start are stale and those
// past Size spare; Open removes both).
//
// With shrink, as for Truncate and DropBefore, the caller also holds
// resize for writing and syncMu, and the unlinks let go of mu after every
// fileRun files (see fileRun). Without it, as for a failed growth
// (unmakeLocked), whose writes hold resize only for reading, mu stays
// held throughout: another growth could make a file under a name before
// this call unlinked it.
//
// REQUIRES: m.mu held (see shrink).
func (m *Manager) deleteChunksLocked(from, to int64, spare []int64, shrink bool) error {
	m.bumpEpochLocked()
	held := m.retireChunksLocked(from, to)
	var err error
	unlinked := 0
	for idx := to - 1; idx >= from; idx-- {
		if slices.Contains(spare, idx) {
			continue
		}
		// held was taken before the first unlink; a hold let go of while
		// mu was free since (see shrink) has removed nothing of this
		// chunk (removeLaterLocked passes over those not yet waiting),
		// so the chunk counts as held only while its doomed mapping is.
		if unmapBeforeRemove && (held[idx] && m.doomedLocked(idx) || m.viewedLocked(idx) || m.mu.fdsInUse[idx] > 0) {
			m.mu.removeLater[idx] = struct{}{}
			continue
		}
		rm := m.takeChunkLocked(idx)
		if shrink {
			// The unlink itself runs with mu let go, as between runs
			// (see fileRun): a chunk file of many extents takes
			// milliseconds to free (tens of milliseconds with online
			// discard), which reads that miss would wait for.
			// (Locked again by a deferred call: a panic of the file
			// system unwinds through callers that unlock mu.)
			m.mu.Unlock()
			func() {
				defer m.mu.Lock()
				err = errors.Join(err, rm())
			}()
		} else {
			err = errors.Join(err, rm())
		}
		if unlinked++; shrink && unlinked%fileRun == 0 && idx > from {
			m.letGoLocked(idx)
		}
	}
	m.mu.dirDirty = true
	m.deletions.Add(1)
	// Again once the files are gone: a reader that reconciled between the
	// first bump and the unlinks found them still under their names, and
	// must look again before it can meet a file made anew under one.
	m.bumpEpochLocked()
	if err != nil {
		return fmt.Errorf("delete chunks %d to %d: %w", from, to-1, err)
	}
	return nil
}

// fileRun is how many chunk files a call that holds resize for writing
// creates, allocates or unlinks between two looks of other goroutines at
// mu. Creating a file takes 30-300 µs on ext4 (more in a directory of
// 100,000 files, on a loaded disk), an unlink 20-30 µs, and a growth or a
// dropped run of a log may be 100,000 chunks: held across them all, mu kept
// every read that missed (mapping a chunk, opening its file for pread)
// waiting for seconds, though none of them needs a file being made or
// deleted. Letting go of mu is safe there because nothing that runs under
// mu meanwhile can reach those files or make one under their names. An
// unlink of a large file can take milliseconds on its own, as the file
// system frees its blocks: the unlinks run with mu let go, each.
//
// Unlinks (deleteChunksLocked, for Truncate and DropBefore, which also hold
// syncMu):
//   - the chunks are out of [Start, Size) and retired (retireChunksLocked)
//     before the first unlink, so no read, pin, Batch or view maps or
//     opens them again (each checks the range under mu), and a hold they
//     had is doomed;
//   - resize, held for writing, keeps out every growth (which could make a
//     file under one of the names), every other Truncate, DropBefore and
//     Close; syncMu keeps out Sync, whose fsync of the directory must
//     come after the last unlink (dirDirty);
//   - a release that removes files whose deletion waited for it
//     (removeLaterLocked) may remove one of these first: removeFile takes
//     a missing file as removed. Where a mapped file cannot be deleted
//     (unmapBeforeRemove), a chunk held before the first unlink may be
//     let go of before the unlinks reach it, and is then no longer left
//     to its release: the loop looks again when it reaches it.
//
// The epoch of the state page moves before the first unlink and again
// after the last, under mu, as before.
//
// Creations and allocations (growLocked with growPausing, for a Truncate
// that extends the dataset, a Grow or a small write far past Size, which
// take resize for writing when they need more than fileRun files):
//   - the chunks lie past Size and past reserved until the call is done
//     with them all, so no read, pin, Batch or view maps or opens them,
//     and a follower in another process reads only [Start, Size); they
//     count in nchunks as they are made, as spare chunks do;
//   - resize keeps out every other growth (which could make a file under
//     the same name, or count on the files being made), every write (all
//     take resize for reading), every shrink and Close;
//   - the files are queued for Sync (adoptLocked) only once the call is
//     done with them all, so that a Sync meanwhile does not take them: a
//     creation or allocation that fails removes what the call made
//     (unmakeLocked, holding mu throughout), and that Sync, and every
//     later one, found them removed "by another program" (ErrFault).
//     Nothing needs them synced before Size covers them, after the call.
const fileRun = 16

// letGoLocked lets go of mu for a moment, after chunk idx, for a call that
// has made, allocated or unlinked fileRun more chunk files (see fileRun).
//
// REQUIRES: m.mu held; resize held for writing by the caller.
func (m *Manager) letGoLocked(idx int64) {
	m.mu.Unlock()
	if pauseHook != nil {
		pauseHook(idx)
	}
	m.mu.Lock()
}

// pauseHook, if set, runs in letGoLocked while mu is let go: tests set it
// (export_test.go) to check what other goroutines can do meanwhile.
var pauseHook func(idx int64)

// retireChunksLocked takes chunks [from, to), which are no longer the
// dataset's, out of use, as their deletion does, without removing their
// files: it unmaps them (or dooms them, if held, see dropLocked), closes
// their cached descriptors and forgets what the Manager kept for them,
// their unsynced stores included. It returns the chunks still held.
//
// REQUIRES: m.mu held.
func (m *Manager) retireChunksLocked(from, to int64) (held map[int64]bool) {
	held = make(map[int64]bool)
	for idx := to - 1; idx >= from; idx-- {
		delete(m.mu.dirty, idx)
		m.dropFdLocked(idx)
		if mp := m.mappingLocked(idx); mp != nil {
			mp.s.takeMarks() // the chunk is going; nothing to sync
			m.dropLocked(mp, true)
			held[idx] = !mp.gone
		}
		delete(m.mu.freq, idx) // after dropLocked, which hands it back
		m.forgetAllocLocked(idx)
		delete(m.mu.ids, idx)
	}
	return held
}

// removeLaterLocked removes the files whose removal waited for their
// chunk's last pin (see unmapBeforeRemove), but for those still mapped by
// another hold (a slot or a private view) or open for a pread, whose
// release calls it again. Chunks created again under the same index since
// are kept.
//
// REQUIRES: m.mu held.
func (m *Manager) removeLaterLocked() {
	for idx := range m.mu.removeLater {
		if idx >= m.mu.first && idx < m.mu.first+m.mu.nchunks {
			delete(m.mu.removeLater, idx)
			continue
		}
		if m.viewedLocked(idx) || m.mu.fdsInUse[idx] > 0 || m.doomedLocked(idx) {
			continue
		}
		if m.removeChunk(idx) == nil {
			delete(m.mu.removeLater, idx)
		}
	}
}

// doomedLocked reports whether chunk idx, deleted while held, is still
// mapped for a holder that has not let go of it.
//
// REQUIRES: m.mu held.
func (m *Manager) doomedLocked(idx int64) bool {
	return slices.ContainsFunc(m.mu.doomed, func(mp *mapping) bool { return mp.index == idx })
}

// removeChunk deletes the file of chunk idx.
//
// REQUIRES: m.mu held.
func (m *Manager) removeChunk(idx int64) error { return m.takeChunkLocked(idx)() }

// takeChunkLocked forgets the file of chunk idx and returns what deletes it,
// which needs no lock: the unlink of a named file, the last close of an
// unnamed scratch file.
//
// REQUIRES: m.mu held.
func (m *Manager) takeChunkLocked(idx int64) (remove func() error) {
	if f := m.mu.scratch[idx]; f != nil {
		delete(m.mu.scratch, idx)
		unreserveScratchFile(m.scratchFiles)
		return f.Close // the system deletes the unnamed file
	}
	path := filepath.Join(m.dir, chunk.Name(idx))
	return func() error { return removeFile(m.fsys, path) }
}

// freeSpace returns the bytes free for the dataset's growth: on the file
// system of the directory's handle where fsys has one (vfs.Bind), since a
// directory renamed while open may not be where its path now leads.
func (m *Manager) freeSpace() (int64, error) {
	if d, ok := m.fsys.(interface{ FreeSpace() (int64, error) }); ok {
		return d.FreeSpace()
	}
	return chunk.FreeSpace(m.dir)
}
