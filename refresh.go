package chunkmap

// This file lets a read-only Manager follow a writer in another process.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// Refresh brings a ReadOnly Manager up to date with what the dataset's
// writer last recorded in the manifest (with Sync, Truncate, DropBefore or
// Close): chunks it added become readable, and Start and Size take the
// recorded values. Chunks the writer deleted are unmapped (or, if pinned,
// once released). Bytes the writer has stored but not yet synced may already
// be visible through the mappings, but Size only covers what was recorded.
//
// A ReadOnly Manager holds no lock that excludes the writer, so readers and
// one writer coexist, in one process or several; Refresh is how a reader
// follows the writer. On a read-write Manager Refresh does nothing.
func (m *Manager) Refresh() error {
	if m.closed.Load() {
		return m.errorf("refresh", 0, 0, ErrClosed, "")
	}
	if !m.opts.ReadOnly {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// The writer replaces the manifest before it deletes chunks and after
	// it creates them, so a chunk the manifest needs can vanish only if a
	// Truncate or DropBefore ran since it was read: read it again then.
	var err error
	for range 3 {
		var mf manifest
		if mf, err = readManifest(m.dir); err != nil {
			return fmt.Errorf("refresh %s: %w", m.dir, err)
		}
		if mf.chunkSize != m.chunkSize {
			return fmt.Errorf("refresh %s: %w: chunk size changed from %d to %d", m.dir, ErrCorrupt, m.chunkSize, mf.chunkSize)
		}
		var n int64
		if n, err = m.countChunks(mf); err == nil {
			m.applyLocked(mf, n)
			return nil
		}
	}
	return fmt.Errorf("refresh %s: %w", m.dir, err)
}

// countChunks counts the chunk files from mf.first on, stopping at the
// first missing one, and checks that they cover mf.size.
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
	for ; ; idx++ {
		path := filepath.Join(m.dir, chunk.Name(idx))
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return 0, err
		}
		if fi.Size() != m.chunkSize {
			return 0, fmt.Errorf("%w: chunk file %s: %d bytes, want %d", ErrCorrupt, path, fi.Size(), m.chunkSize)
		}
	}
	if idx < need {
		return 0, fmt.Errorf("%w: chunk file %s is missing (size %d)", ErrCorrupt,
			filepath.Join(m.dir, chunk.Name(idx)), mf.size)
	}
	return idx - mf.first, nil
}

// applyLocked adopts the recorded state mf with n chunk files from mf.first,
// retiring the mappings and closing the cached files of chunks that are gone
// or were replaced.
func (m *Manager) applyLocked(mf manifest, n int64) {
	for _, mp := range m.mu.lru.Values() {
		if mp.index < mf.first || mp.index >= mf.first+n || replaced(mp.file) {
			m.dropLocked(mp, true)
		}
	}
	for idx, e := range m.mu.fds {
		if idx < mf.first || idx >= mf.first+n || replaced(e.f) {
			m.dropFdLocked(idx)
		}
	}
	// Order matters to lock-free readers: shrink the range they may read
	// before the chunks go, widen it after the chunks are there.
	m.start.Store(mf.first << m.shift)
	m.shrinks.Add(1)
	if mf.size < m.size.Load() {
		m.size.Store(mf.size)
	}
	m.mu.first = mf.first
	m.mu.nchunks = n
	m.size.Store(mf.size)
	m.mu.reserved = mf.size
	m.mu.durable = mf
}

// replaced reports whether the open chunk file f (mapped, or cached for
// pread) is no longer the file under its name: the writer deleted it with a
// Truncate, and may have created a new one there since, which the manifest
// alone cannot show. f keeps the old file open, so its inode cannot be
// reused.
func replaced(f *chunk.File) bool {
	onDisk, err := os.Stat(f.Path())
	if err != nil {
		return true
	}
	mine, err := f.Stat()
	return err != nil || !os.SameFile(onDisk, mine)
}
