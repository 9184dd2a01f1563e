package chunkmap

// This file holds growth and shrinking: creating chunk files, Grow,
// Truncate, DropBefore and deleting chunk files.

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// growLocked creates chunk files until the capacity reaches end. If a
// creation fails, the chunks this call created are removed again.
//
// REQUIRES: m.mu held.
func (m *Manager) growLocked(end int64) error {
	last := m.mu.first + m.mu.nchunks // index of the next chunk to create
	need := (end + m.mask) >> m.shift
	if end > maxOffset-m.mask {
		need = (maxOffset >> m.shift) + 1
	}
	if need <= last {
		return nil
	}
	// Refuse at once what cannot fit, rather than create files until the
	// disk is full and then remove them: a write at offset 1<<62 is valid
	// input, not a reason to fill a file system.
	if avail, err := chunk.FreeSpace(m.dir); err == nil && need-last > avail/m.chunkSize {
		return fmt.Errorf("grow %s to %d bytes: %w: %d chunks of %d bytes needed, %d bytes free",
			m.dir, end, ErrNoSpace, need-last, m.chunkSize, avail)
	}
	for idx := last; idx < need; idx++ {
		var f *chunk.File
		var err error
		if m.opts.Scratch {
			if f, err = chunk.CreateScratch(m.dir, idx, m.chunkSize, m.opts.FileMode); err == nil {
				m.mu.scratch[idx] = f
			}
		} else if f, err = chunk.Create(m.dir, idx, m.chunkSize, m.opts.FileMode); err == nil {
			err = f.Close()
		}
		if err != nil {
			for j := idx - 1; j >= last; j-- { // highest first: no gap on a crash
				err = errors.Join(err, m.removeChunk(j))
			}
			return fmt.Errorf("grow %s to %d bytes: %w", m.dir, end, err)
		}
	}
	m.mu.nchunks = need - m.mu.first
	return nil
}

// zeroLocked zeroes the bytes [from, to) of existing chunks with the file
// system (no mapping needed), and remembers the chunks for the next Sync.
//
// REQUIRES: m.mu held.
func (m *Manager) zeroLocked(from, to int64) error {
	for from < to {
		idx := from >> m.shift
		n := min(to-from, (idx+1)<<m.shift-from)
		e, err := m.fdLocked(idx)
		if err != nil {
			return err
		}
		err = e.f.Zero(from&m.mask, n)
		m.releaseFdLocked(e)
		if err != nil {
			return fmt.Errorf("zero %d bytes at offset %d: %w", n, from, err)
		}
		m.mu.dirty[idx] = struct{}{}
		from += n
	}
	return nil
}

// Grow makes sure chunks exist for at least n bytes past Size, creating them
// now, so later writes up to there neither create files nor fail for lack
// of space. It does not change Size. If creating a chunk fails it returns
// the error and leaves the dataset as it was.
func (m *Manager) Grow(n int64) error {
	if err := m.checkWrite("grow", m.size.Load(), 0); err != nil {
		return err
	}
	size := m.size.Load()
	if n < 0 || n > maxOffset-size {
		return m.errorf("grow", size, 0, ErrOutOfRange, fmt.Sprintf("cannot grow by %d bytes", n))
	}
	m.resize.RLock()
	defer m.resize.RUnlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return m.errorf("grow", size, 0, ErrClosed, "")
	}
	return m.growLocked(m.size.Load() + n)
}

// Truncate sets Size. Chunk files wholly past the new Size are deleted, and
// bytes past it read as zeros if the dataset is extended again. Truncating
// below Start returns ErrOutOfRange. A Truncate that deletes chunks first
// makes everything written before it durable, as Sync does, then records the
// new Size in the manifest, and only then deletes files, so a crash at any
// point leaves a consistent dataset. A chunk held by a pin or a Batch at the
// time stays mapped until its last holder releases it.
func (m *Manager) Truncate(size int64) error {
	if err := m.checkWrite("truncate", size, 0); err != nil {
		return err
	}
	m.resize.Lock()
	defer m.resize.Unlock()
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.closed.Load() {
		return m.errorf("truncate", size, 0, ErrClosed, "")
	}
	if start := m.start.Load(); size < start {
		return m.errorf("truncate", size, 0, ErrOutOfRange, fmt.Sprintf("below start %d", start))
	}
	if old := m.size.Load(); size >= old {
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := m.reserveLocked(size, size); err != nil {
			return err
		}
		m.size.Store(size)
		return nil
	}
	m.mu.Lock()
	deletes := (size+m.mask)>>m.shift-m.mu.first < m.mu.nchunks
	m.mu.Unlock()
	if deletes {
		if _, err := m.flush(); err != nil {
			return fmt.Errorf("truncate %s to %d: %w", m.dir, size, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.size.Store(size)
	m.shrinks.Add(1)
	m.mu.reserved = size
	keep := (size+m.mask)>>m.shift - m.mu.first
	if keep >= m.mu.nchunks {
		return nil
	}
	if err := m.recordLocked(manifest{chunkSize: m.chunkSize, first: m.mu.first, size: size}); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", m.dir, size, err)
	}
	from := m.mu.first + keep
	to := m.mu.first + m.mu.nchunks
	m.mu.nchunks = keep
	m.mu.hwm = min(m.mu.hwm, (m.mu.first+keep)<<m.shift)
	return m.deleteChunksLocked(from, to)
}

// DropBefore deletes every chunk that lies wholly below offset off, for
// retention in log and segment stores, and moves Start up to the first
// remaining chunk (off rounded down to a multiple of ChunkSize). Offsets of
// the remaining bytes do not change. Dropping past Size returns
// ErrOutOfRange; dropping at or below Start does nothing. Like Truncate, it
// makes everything written before it durable and records the new Start in
// the manifest before it deletes any file.
func (m *Manager) DropBefore(off int64) error {
	if err := m.checkWrite("drop", off, 0); err != nil {
		return err
	}
	m.resize.Lock()
	defer m.resize.Unlock()
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.closed.Load() {
		return m.errorf("drop", off, 0, ErrClosed, "")
	}
	if size := m.size.Load(); off > size {
		return m.errorf("drop", off, 0, ErrOutOfRange, fmt.Sprintf("past size %d", size))
	}
	newFirst := off >> m.shift
	if newFirst<<m.shift <= m.start.Load() {
		return nil
	}
	size, err := m.flush()
	if err != nil {
		return fmt.Errorf("drop %s before %d: %w", m.dir, off, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.recordLocked(manifest{chunkSize: m.chunkSize, first: newFirst, size: size}); err != nil {
		return fmt.Errorf("drop %s before %d: %w", m.dir, off, err)
	}
	m.start.Store(newFirst << m.shift)
	m.shrinks.Add(1)
	oldFirst := m.mu.first
	m.mu.nchunks -= newFirst - oldFirst
	m.mu.first = newFirst
	return m.deleteChunksLocked(oldFirst, newFirst)
}

// deleteChunksLocked unmaps (or dooms, if held) and removes chunk files
// [from, to), then syncs the directory. Files go from the highest index
// down: a crash part way leaves the chunks that remain without a gap (those
// below Start are stale and Open removes them; those past Size are spare).
//
// REQUIRES: m.mu held.
func (m *Manager) deleteChunksLocked(from, to int64) error {
	held := make(map[int64]bool)
	for idx := to - 1; idx >= from; idx-- {
		delete(m.mu.dirty, idx)
		m.dropFdLocked(idx)
		if mp := m.mappingLocked(idx); mp != nil {
			mp.s.takeDirty() // the file is going; nothing to sync
			m.dropLocked(mp, true)
			held[idx] = !mp.gone
		}
		delete(m.mu.freq, idx) // after dropLocked, which hands it back
	}
	var err error
	for idx := to - 1; idx >= from; idx-- {
		if unmapBeforeRemove && held[idx] {
			m.mu.removeLater[idx] = struct{}{}
			continue
		}
		err = errors.Join(err, m.removeChunk(idx))
	}
	if err == nil && !m.opts.Scratch {
		err = chunk.SyncDir(m.dir)
	}
	if err != nil {
		return fmt.Errorf("delete chunks [%d, %d) of %s: %w", from, to, m.dir, err)
	}
	return nil
}

// removeLaterLocked removes the files whose removal waited for their
// chunk's last pin (see unmapBeforeRemove). Chunks created again under the
// same index since are kept.
//
// REQUIRES: m.mu held.
func (m *Manager) removeLaterLocked() {
	for idx := range m.mu.removeLater {
		if idx >= m.mu.first && idx < m.mu.first+m.mu.nchunks {
			delete(m.mu.removeLater, idx)
			continue
		}
		if m.removeChunk(idx) == nil {
			delete(m.mu.removeLater, idx)
		}
	}
}

// removeChunk deletes the file of chunk idx.
func (m *Manager) removeChunk(idx int64) error {
	if f := m.mu.scratch[idx]; f != nil {
		delete(m.mu.scratch, idx)
		return f.Close() // the system deletes the unnamed file
	}
	return removeFile(filepath.Join(m.dir, chunk.Name(idx)))
}
