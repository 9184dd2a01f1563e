package chunkmap

// This file holds durability: which chunks were stored to since the last
// Sync, Sync itself, and the manifest records.
//
// A chunk is dirty (stored to since the last Sync) in one of two ways:
//
//   - it is mapped, its slot's dirty flag is set, and its mapping is queued
//     in mu.dirtyq, so Sync visits only chunks that were stored to;
//   - it is listed by index in mu.dirty: written with pwrite, or unmapped
//     while dirty.
//
// Lock-free writers (hot.go) read the flag in the atomic operation that
// leaves the slot after their store, and leave the marking (markStored,
// which takes mu) to the locked path when they find it clear, about once per
// chunk per Sync. Sync clears the flag with an atomic operation on the same
// word, so the two are ordered: either the writer left first, its store is
// in the page cache, and the Sync that cleared the flag fsyncs it; or the
// writer found the flag clear and marks the chunk for the next Sync. The
// flag the writer reads is its own chunk's, because no slot changes owner
// while a writer is in it. A writer that marks after it left may be slow to
// do so: the slot's lateBit (or syncLateBit), set before it leaves, makes
// an eviction or Close in between hand the chunk to Sync in its place.
// Chunks held writable by a pin or a Batch take plain stores that mark
// nothing, so they stay queued, and are fsync'd by every Sync, until the
// last such holder leaves (and marks them once more).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/units"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// Sync makes durable everything written before it was called, so that it
// survives a power loss: chunks stored to since the last Sync (those
// unmapped since included) and chunk files created since are flushed and
// fsync'd (up to 16 at a time, on goroutines Sync waits for), then the
// directory if files were created or removed, and then
// the manifest records Size and Start, with one write and one fsync. Its
// cost grows with the number of such chunks, not with the number mapped or
// the size of the dataset: writers queue a chunk the first time they dirty
// it after a Sync, and Sync visits only the queue. A Sync with nothing to
// do costs a stat of the manifest; the first one after a Truncate or
// DropBefore that deleted chunk files (and recorded Size and Start itself)
// also fsyncs the manifest, for its state page. On a ReadOnly Manager it
// does nothing and returns nil.
//
// Without Sync, writes survive a crash of the process (they are in the
// page cache, and Size and Start are in the manifest's shared state page),
// not a power loss.
//
// If an fsync (or, except on Linux, an msync) fails, Sync returns an error
// matching ErrSyncFailed, and so does every later Sync and write: the
// kernel may have dropped the dirty pages, so the data written since the
// last successful Sync is in doubt. Any other failure (a file that cannot
// be opened for lack of descriptors, ErrIO; a full disk writing the
// manifest, ErrNoSpace) fails this Sync only; the next one tries again. A
// chunk file or manifest that another program removed or replaced, or a
// dirty chunk file it truncated in place, is reported by every Sync
// (ErrFault, ErrCorrupt): what was written to it is lost. For a chunk,
// Sync compares the file under the name with the file the writes went to
// where it knows that file, which is every case but two: stores through a
// private view (a Pin across the arena's end) while Truncate or DropBefore
// deleted chunk files, and a small lock-free write in its slot while a
// Sync cleared the chunk's dirty flag whose chunk is evicted before the
// write marks it (see syncLateBit). (A lock-free atomic or Scatter whose
// chunk is evicted before the store marks it has its file named by the
// eviction: see lateBit.)
func (m *Manager) Sync() error {
	if !m.live.Load() {
		return m.errorf("sync", whole, ErrClosed, "")
	}
	if m.opts.ReadOnly {
		return nil
	}
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	// Close takes syncMu too: a Close that got it first has closed the
	// files this Sync would use (and synced them itself).
	if !m.live.Load() {
		return m.errorf("sync", whole, ErrClosed, "")
	}
	return m.wrapErr("sync", whole, m.syncLocked())
}

// syncLocked does the work of Sync. Its errors do not name the operation
// or the directory (the caller's do), but do name the file involved.
//
// REQUIRES: m.syncMu held.
func (m *Manager) syncLocked() error {
	if m.opts.Scratch {
		return nil
	}
	size, err := m.flush()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shared != nil {
		st := m.state()
		m.shared.verify(st.start.Load(), st.size.Load()) // a page written over is written whole again next
	}
	if err := m.pageErrLocked(false); err != nil {
		return err
	}
	mf := manifest{chunkSize: m.chunkSize, first: m.mu.first, size: max(size, m.mu.first<<m.shift)}
	if mf == m.mu.durable {
		// Nothing to record; a manifest another program removed or
		// replaced is still reported, by every Sync. (recordLocked
		// checks the name itself before it writes.)
		if err := m.mfile.stillNamed(m.fsys); err != nil {
			return err
		}
		return m.syncPageLocked()
	}
	return m.recordLocked(mf)
}

// syncPageLocked fsyncs the manifest if the state page has changed since
// its last fsync. A Truncate or DropBefore that deletes chunk files writes
// its record (and fsyncs it) before it moves the page, so the Sync after
// it finds the record up to date, and without this the page on disk kept
// the Start and Size from before the shrink. A power loss does not mind
// (the next boot takes the record), but a file system that fails under a
// live machine and is mounted again leaves a page of this boot, which Open
// takes for the page of a crashed process and follows: it named chunk
// files the shrink had deleted, and Open refused the dataset (ErrCorrupt)
// that the Sync had acknowledged.
//
// REQUIRES: m.mu held.
func (m *Manager) syncPageLocked() error {
	if m.shared == nil {
		return nil
	}
	page := [2]int64{m.shared.start, m.shared.size}
	if page == m.mu.pageSynced {
		return nil
	}
	if err := m.mfile.syncFile(); err != nil {
		return m.fail(err)
	}
	m.mu.pageSynced = page
	return nil
}

// flush makes durable every store made before it was called, and the
// chunk files and directory entries made since the last flush, and returns
// the Size of that moment.
//
// REQUIRES: m.syncMu held, m.mu not held.
func (m *Manager) flush() (size int64, err error) {
	if m.opts.Scratch {
		return m.state().size.Load(), nil
	}
	if e := m.failed.Load(); e != nil {
		return 0, fmt.Errorf("earlier sync: %w", *e)
	}
	// Size is read before anything is flushed, so a record of it never
	// covers bytes whose extension was not flushed.
	size = m.state().size.Load()

	// hard errors are failed fsyncs and msyncs, which poison the Manager;
	// soft ones fail this flush only.
	var hard, soft error
	m.mu.Lock()
	var live []*mapping
	queued := m.mu.dirtyq
	m.mu.dirtyq = nil
	m.mu.clean.next()
	for _, mp := range queued {
		mp.queued = false
		if mp.gone || mp.s.doomed.Load() {
			// Unmapped since (its flag moved to mu.dirty) or deleted.
			continue
		}
		dirty := mp.s.takeDirtyIn()
		if mp.s.wholds.Load() > 0 {
			m.enqueueLocked(mp)
		} else if !dirty {
			continue
		}
		mp.s.clearLate()  // fsync'd below, after every store that left
		mp.s.holds.Add(1) // keeps it mapped while it is flushed
		live = append(live, mp)
	}
	// Private views take plain stores that mark nothing, like writable
	// holds: their chunks are fsync'd by every Sync while they exist.
	for _, vh := range m.mu.views {
		if !vh.write {
			continue
		}
		if e := vh.v.Flush(); e != nil {
			hard = errors.Join(hard, e)
		}
		m.markViewDirtyLocked(vh)
	}
	var evicted []int64
	ids := make(map[int64]fs.FileInfo, len(m.mu.ids))
	for idx := range m.mu.dirty {
		evicted = append(evicted, idx)
		if id, ok := m.mu.ids[idx]; ok {
			ids[idx] = id
		}
	}
	clear(m.mu.dirty)
	clear(m.mu.ids)
	dirDirty := m.mu.dirDirty
	m.mu.dirDirty = false
	m.mu.Unlock()

	// The chunks are fsync'd side by side (see syncFanout); their errors
	// are joined in the order of live, then evicted, not as they finish.
	// Evicted chunks whose files the descriptor cache holds go first, with
	// the mapped ones; those opened by name go after, when this Sync uses
	// no cached file, so that a refusal for want of descriptors can close
	// every idle one (withFiles).
	type result struct {
		hard, soft error
		done       bool
	}
	res := make([]result, len(live)+len(evicted))
	fanOut(m.syncWidth(), len(res), func(i int) {
		if i < len(live) {
			mp := live[i]
			h, s := m.syncMapping(mp)
			if h != nil || s != nil {
				m.markDirty(mp)
			}
			m.unholdSlot(mp.s)
			res[i] = result{h, s, true}
			return
		}
		idx := evicted[i-len(live)]
		h, s, done := m.fsyncCached(idx, ids[idx])
		res[i] = result{h, s, done}
	})
	var byName []int
	for i := len(live); i < len(res); i++ {
		if !res[i].done {
			byName = append(byName, i)
		}
	}
	fanOut(m.syncWidth(), len(byName), func(j int) {
		i := byName[j]
		idx := evicted[i-len(live)]
		h, s := m.fsyncChunk(idx, ids[idx], false)
		res[i] = result{h, s, true}
	})
	// Side by side, the opens that were refused a descriptor took what
	// each other's refusals gave back (withFiles): one at a time, each
	// needs only one, and only a refusal then is worth unmapping chunks.
	for _, i := range byName {
		if res[i].hard == nil && filesRefused(res[i].soft) {
			idx := evicted[i-len(live)]
			h, s := m.fsyncChunk(idx, ids[idx], true)
			res[i] = result{h, s, true}
		}
	}
	var retry []int64
	// A chunk both mapped and written by pwrite since the last Sync is in
	// live and in evicted, and its two checks may fail in different words
	// (a stat of the mapped file, an open by name): one error is reported
	// for it, and a cause other than a want of descriptors in preference
	// to such a refusal, as it says what became of the file where a
	// refusal says only that the file was not looked at.
	var errs []error
	var pos map[int64]int // chunk index → its error's place in errs
	for i, r := range res {
		hard = errors.Join(hard, r.hard)
		if r.soft == nil {
			continue
		}
		var idx int64
		if i < len(live) {
			idx = live[i].index
		} else {
			idx = evicted[i-len(live)]
			retry = append(retry, idx)
		}
		if j, ok := pos[idx]; ok {
			if filesRefused(errs[j]) && !filesRefused(r.soft) {
				errs[j] = r.soft
			}
			continue
		}
		if pos == nil {
			pos = make(map[int64]int)
		}
		pos[idx] = len(errs)
		errs = append(errs, r.soft)
	}
	// One refusal for want of descriptors says what to do; those of the
	// other files are counted, not repeated (with the hint, a few hundred
	// bytes each).
	refusedOne, refusedMore := false, 0
	for _, e := range errs {
		if filesRefused(e) {
			if refusedOne {
				refusedMore++
				continue
			}
			refusedOne = true
		}
		soft = errors.Join(soft, e)
	}
	if refusedMore > 0 {
		soft = errors.Join(soft, fmt.Errorf("%s to sync could not be opened for want of descriptors", units.Count(refusedMore, "more chunk file")))
	}
	// New files' names (and removed ones) are durable only once their
	// directory is synced: before any record can need them.
	if dirDirty {
		if e := m.withFiles(true, func() error { return m.fsys.SyncDir(m.dir) }); notOpened(e) {
			// The directory could not be opened (no descriptors, say):
			// no fsync failed, and the next Sync tries again.
			soft = errors.Join(soft, fmt.Errorf("sync directory: %w", unpath(m.dir, e)))
		} else if e != nil {
			hard = errors.Join(hard, fmt.Errorf("sync directory: %w", unpath(m.dir, e)))
		}
	}
	if len(retry) > 0 || (dirDirty && (hard != nil || soft != nil)) {
		m.mu.Lock()
		for _, idx := range retry {
			m.markFileDirtyLocked(idx, ids[idx])
		}
		m.mu.dirDirty = m.mu.dirDirty || dirDirty
		m.mu.Unlock()
	}
	if hard != nil {
		return 0, m.fail(errors.Join(hard, soft))
	}
	if soft != nil {
		return 0, soft
	}
	return size, nil
}

// syncFanout is the most chunk files one Sync fsyncs at a time. A file
// system with a journal commits the fsyncs that wait together in one
// transaction (ext4's jbd2, XFS's log), and a device with a queue writes
// their data side by side, so a Sync of many dirty chunks takes a fraction
// of the time of one fsync after another: 1,024 dirty 64 KiB chunk files on
// ext4 took 322 ms one at a time and 90 ms sixteen at a time (see
// BenchmarkSyncMany).
//
// Where address space is scarce (a limit, RLIMIT_AS, or a 32-bit process)
// it is scarceSyncFanout instead. Each goroutine blocked in fsync holds a
// thread of its own, and in a program that links cgo (one that uses
// os/user, or the network through the system's resolver) a thread is a
// pthread whose stack reserves RLIMIT_STACK, 8 MiB by default, of address
// space: sixteen of them took 128 MiB, and under a limit that left a few
// hundred MiB free, pthread_create failed and the Go runtime ended the
// process.
const (
	syncFanout       = 16
	scarceSyncFanout = 2
)

// syncWidth returns how many chunk files a Sync of m fsyncs at a time.
func (m *Manager) syncWidth() int {
	if m.scarce {
		return scarceSyncFanout
	}
	return syncFanout
}

// fanOut calls fn(i) for every i in [0, n), on up to width goroutines (the
// caller's among them), and returns once all calls have returned. Each i
// is taken by one goroutine; fn must be safe for concurrent use and must
// not panic. Whatever fn reaches escapes to the heap.
func fanOut(width, n int, fn func(i int)) {
	var next atomic.Int64
	work := func() {
		for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
			fn(int(i))
		}
	}
	var wg sync.WaitGroup
	for range min(n, width) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// syncMapping flushes mp's slot where the platform needs that (not Linux:
// see arena.Flush) and fsyncs its file, and returns a failed flush or fsync
// as hard and any other failure as soft, as fsyncChunk does. The fsync goes
// through the mapping's own file, which succeeds also when another program
// has removed or replaced the file under its name; so it then checks the
// name, and reports the loss. The caller holds the slot, and marks it dirty
// again after an error, so that every Sync reports the loss.
func (m *Manager) syncMapping(mp *mapping) (hard, soft error) {
	if err := m.ar.Flush(mp.k); err != nil {
		return fmt.Errorf("flush chunk file %s: %w", mp.file.Path(), err), nil
	}
	if err := mp.file.Sync(); err != nil {
		return err, nil
	}
	if m.opts.Scratch {
		return nil, nil
	}
	fi, err := chunk.SameFile(m.fsys, mp.file.Path(), mp.file.Info())
	if err != nil {
		return nil, m.chunkGone(mp.file.Path(), err)
	}
	return nil, m.chunkCut(mp.file.Path(), fi)
}

// fsyncCached is fsyncChunk through the file of chunk idx that the
// descriptor cache holds (an evicted chunk's, or one pread and pwrite
// used), which needs no descriptor of its own: a Sync that finds the
// process out of descriptors still fsyncs those chunks. It reports whether
// it settled the chunk: not if the cache holds no file of it, or if the
// file under the chunk's name is not the cached one (fsyncChunk's open by
// name then does the rest, and says what happened to the name).
//
// REQUIRES: m.syncMu held; m.mu not held.
func (m *Manager) fsyncCached(idx int64, id fs.FileInfo) (hard, soft error, done bool) {
	m.mu.Lock()
	e := m.mu.fds[idx]
	if e != nil {
		e.refs++ // kept open until released, even if dropped meanwhile
	}
	m.mu.Unlock()
	if e == nil {
		return nil, nil, false
	}
	defer func() {
		m.mu.Lock()
		m.releaseFdLocked(e)
		m.mu.Unlock()
	}()
	path := e.f.Path()
	fi, err := chunk.SameFile(m.fsys, path, e.f.Info())
	if err != nil {
		return nil, nil, false
	}
	if id != nil && !os.SameFile(fi, id) {
		// The writes went to a file that is neither the cached one nor
		// under the name any more.
		return nil, m.chunkGone(path, &fs.PathError{Op: "stat", Path: path, Err: chunk.ErrReplaced}), true
	}
	if err := e.f.Sync(); err != nil {
		return err, nil, true
	}
	return nil, m.chunkCut(path, fi), true
}

// chunkCut reports the chunk file at path if fi, which Sync took of the
// file it fsyncs, says it is not ChunkSize long: another program truncated
// (or extended) it in place, and writes past a cut are lost (a store there
// faults, a pwrite is refused), which Sync must not acknowledge.
func (m *Manager) chunkCut(path string, fi fs.FileInfo) error {
	if fi.Size() != m.chunkSize {
		return fmt.Errorf("%w: chunk file %s was truncated or extended by another program (%d bytes, not %d); its unsynced writes may be lost", ErrFault, path, fi.Size(), m.chunkSize)
	}
	return nil
}

// chunkGone turns the result of a check that the chunk file at path is the
// one the Manager wrote (chunk.SameFile) into the error Sync reports.
func (m *Manager) chunkGone(path string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: chunk file %s was removed by another program; its unsynced writes are lost", ErrFault, path)
	case errors.Is(err, chunk.ErrReplaced):
		return fmt.Errorf("%w: chunk file %s was replaced by another program (another file stands under its name); its unsynced writes are lost", ErrFault, path)
	}
	return fmt.Errorf("stat chunk file %s: %w", path, unpath(path, err))
}

// markFileDirtyLocked queues chunk idx, written through the file that id
// describes (nil if unknown), for the next Sync to fsync by name (through
// the descriptor cache's file of it, if that is the file under the name:
// fsyncCached). The first file recorded since the last Sync stays: if
// another program replaced it since, writes went to a file no longer under
// the name, and Sync must report them lost rather than acknowledge an
// fsync of the new one.
//
// REQUIRES: m.mu held.
func (m *Manager) markFileDirtyLocked(idx int64, id fs.FileInfo) {
	m.mu.dirty[idx] = struct{}{}
	if _, ok := m.mu.ids[idx]; !ok && id != nil && !m.opts.Scratch {
		m.mu.ids[idx] = id
	}
}

// markDirty records that mp's chunk was stored to: it sets the slot's dirty
// flag and queues mp for the next Sync. It takes mu so that no writer can
// see the flag set before mp is queued: one that did would skip markDirty
// and return, and a Sync starting in between would miss a write that
// finished before it.
//
// REQUIRES: m.mu not held.
func (m *Manager) markDirty(mp *mapping) {
	m.mu.Lock()
	m.markDirtyLocked(mp)
	m.mu.Unlock()
}

// markDirtyLocked is markDirty for a caller holding mu.
//
// REQUIRES: m.mu held.
func (m *Manager) markDirtyLocked(mp *mapping) {
	switch {
	case mp.s.doomed.Load():
		// Its chunk was deleted: there is nothing to flush.
	case mp.gone:
		// Unmapped since the store, which reached the page cache: the
		// chunk is fsync'd by name (fsyncChunk). The file is not
		// recorded: the chunk may have been deleted and made anew since
		// (the slot's doomed flag then belongs to the new mapping).
		m.markFileDirtyLocked(mp.index, nil)
	default:
		mp.s.setDirty()
		m.enqueueLocked(mp)
	}
}

// markDirtyIndex is markDirty for a holder that knows the chunk's index and
// slot but not its mapping.
//
// REQUIRES: m.mu not held; s held by the caller.
func (m *Manager) markDirtyIndex(idx int64, s *slot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mp := m.mappingLocked(idx); mp != nil && mp.s == s {
		m.markDirtyLocked(mp)
	}
	// Otherwise the chunk was deleted while held: nothing to flush.
}

// holdWritableLocked counts a writable hold of mp's live slot and queues it
// for Sync.
//
// REQUIRES: m.mu held; mp held by the caller.
func (m *Manager) holdWritableLocked(mp *mapping) {
	mp.s.wholds.Add(1)
	m.markDirtyLocked(mp)
}

// unholdWritable ends a writable hold of chunk idx's slot s: the stores
// made under it are handed to the next Sync, then the hold is released.
//
// REQUIRES: m.mu not held.
func (m *Manager) unholdWritable(idx int64, s *slot) {
	if !m.live.Load() {
		m.lateHolds.Store(true) // before the hold goes: see writableHeldLocked
	}
	if !s.isDirty() {
		m.markDirtyIndex(idx, s)
	}
	s.wholds.Add(-1)
	m.unholdSlot(s)
}

// enqueueLocked adds mp to dirtyq unless it is there already, dropping the
// queue's mappings that were unmapped once they are many, so that a
// dataset written and evicted but never synced (Scratch, say) does not grow
// the queue without bound.
//
// REQUIRES: m.mu held.
func (m *Manager) enqueueLocked(mp *mapping) {
	if mp.queued {
		return
	}
	if len(m.mu.dirtyq) >= 2*len(m.mu.live)+64 {
		q := m.mu.dirtyq[:0]
		for _, c := range m.mu.dirtyq {
			if c.gone {
				c.queued = false
			} else {
				q = append(q, c)
			}
		}
		clear(m.mu.dirtyq[len(q):])
		m.mu.dirtyq = q
	}
	mp.queued = true
	m.mu.dirtyq = append(m.mu.dirtyq, mp)
}

// recordLocked makes mf the manifest's newest record unless it already is:
// one pwrite over the older record and one fsync. A failed write fails the
// call only (the newest record is intact); a failed fsync poisons the
// Manager, like any other.
//
// REQUIRES: m.mu held.
func (m *Manager) recordLocked(mf manifest) error {
	if mf == m.mu.durable || m.opts.Scratch {
		return nil
	}
	// A record written to a manifest removed from outside is lost, and one
	// written to a truncated one regrows it to an odd size: a Truncate or
	// DropBefore must not delete files on the strength of either.
	if err := m.mfile.stillNamed(m.fsys); err != nil {
		return err
	}
	seq := m.mu.seq + 1
	var page [2]int64 // what the fsync takes to disk, at least
	if m.shared != nil {
		page = [2]int64{m.shared.start, m.shared.size}
	}
	hard, soft := m.mfile.writeRecord(mf, seq)
	if hard != nil {
		return m.fail(hard)
	}
	if soft != nil {
		return spaceErr(soft)
	}
	m.mu.durable = mf
	m.mu.seq = seq
	m.mu.pageSynced = page
	return nil
}

// recordBaseLocked returns the record that a DropBefore or a Truncate
// changes into its own: the newest one, moved back to Start where it is
// ahead of Start. A crash inside DropBefore leaves it so (the record is
// written before the state page, and Open follows the page); it is that
// DropBefore's record, whose Size is the larger of the record before it
// and its new Start. Kept as it is, its first chunk past the page's end
// once a Truncate lowered Size would make the next Open take the page for
// one written over and lose what the Truncate kept; so it starts at Start,
// and its Size says how far from there chunks are known to be durable:
//
//   - a Size past its first chunk is the record before's (its new Start
//     was less), which named and synced every chunk from its own first
//     one, at or below Start, up to that Size: the record keeps it, and a
//     power loss keeps those bytes, which no call that returned dropped;
//   - a Size at its first chunk is that DropBefore's new Start, past
//     anything known to be synced: nothing is known durable from Start
//     on, and the record is empty there. Kept, that Size would name chunks
//     whose bytes and names no Sync made durable, which a power loss before
//     the next Sync leaves missing (Open then refuses the dataset) or
//     stale.
//
// The next Sync, which fsyncs every chunk after a crash, records Start and
// Size.
//
// REQUIRES: m.mu held.
func (m *Manager) recordBaseLocked() manifest {
	rec := m.mu.durable
	if rec.first > m.mu.first {
		if rec.size <= rec.first<<m.shift {
			rec.size = m.mu.first << m.shift
		}
		rec.first = m.mu.first
	}
	return rec
}

// notOpened reports whether err is the failure of os.Open (an
// *fs.PathError with Op "open") rather than of an fsync: SyncDir opens the
// directory before it fsyncs it.
func notOpened(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "open"
}

// fail records err, the error of a failed fsync or msync, as the sticky
// sync failure (wrapping ErrSyncFailed) and returns it. The error names the
// file, not the operation: each call that returns it does.
func (m *Manager) fail(err error) error {
	err = fmt.Errorf("%w: %w", ErrSyncFailed, err)
	// Batches must see the failure on their next write: around it, as
	// around a new Size (resize.go).
	m.beginShrink()
	m.failed.CompareAndSwap(nil, &err)
	m.endShrink()
	return err
}

// fsyncChunk fsyncs the file of chunk idx, which has no live mapping,
// opened by name (where fsyncCached could not), and returns a failed fsync
// as hard and any other failure as soft. id, if not
// nil, describes the file the unsynced writes went to: another file under
// the name is reported as a loss, not fsync'd in its place. Chunks the
// Manager deleted are no longer listed as dirty, so a missing file was
// removed by another program. A refused open gives back chunk mappings
// only with mappings (see withFiles).
//
// REQUIRES: m.syncMu held (no Truncate or DropBefore runs).
func (m *Manager) fsyncChunk(idx int64, id fs.FileInfo, mappings bool) (hard, soft error) {
	path := filepath.Join(m.dir, chunk.Name(idx))
	var f vfs.File
	err := m.withFiles(mappings, func() (err error) {
		f, err = m.fsys.OpenFile(path, os.O_RDWR, 0)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, m.chunkGone(path, err)
	}
	if errors.Is(err, vfs.ErrNotRegular) {
		// A directory, FIFO or symlink stands where the chunk was: the
		// file written to was replaced.
		return nil, m.chunkGone(path, fmt.Errorf("%w: %w", chunk.ErrReplaced, err))
	}
	if err != nil {
		return nil, fmt.Errorf("open chunk file %s to sync it: %w", path, unpath(path, err))
	}
	// Opened by name: the file under it must be the one written to, or
	// the writes went to a file another program has since replaced, and
	// an fsync of this one would acknowledge them; and it must not have
	// been cut (chunkCut).
	fi, err := f.Stat()
	if err == nil && id != nil && !os.SameFile(fi, id) {
		err = &fs.PathError{Op: "stat", Path: path, Err: chunk.ErrReplaced}
	}
	if err != nil {
		return nil, errors.Join(m.chunkGone(path, err), f.Close())
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("fsync chunk file %s: %w", path, unpath(path, err)), f.Close()), nil
	}
	return nil, errors.Join(m.chunkCut(path, fi), f.Close())
}
