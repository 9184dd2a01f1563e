package chunkmap

// Mappings reports the mappings m holds: live ones (published and in the
// LRU), retired ones waiting to be unmapped, and ones whose chunk was deleted
// while pinned. After Close with every pin released all three are zero.
func (m *Manager) Mappings() (live, retired, doomed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.live), len(m.mu.graveyard), len(m.mu.doomed)
}

// QueuedDirty reports how many mappings wait in the queue the next Sync
// scans.
func (m *Manager) QueuedDirty() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.dirtyq)
}
