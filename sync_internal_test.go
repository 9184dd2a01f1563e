package chunkmap

import "testing"

// pendingForSync reports whether the next Sync would fsync chunk idx: it is
// listed by index, queued with a live mapping, or flagged in the graveyard.
func (m *Manager) pendingForSync(idx int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.dirty[idx]; ok {
		return true
	}
	for _, mp := range m.mu.dirtyq {
		if mp.index == idx && m.isLiveLocked(mp) {
			return true
		}
	}
	for _, mp := range m.mu.graveyard {
		if mp.index == idx && mp.dirty.Load() {
			return true
		}
	}
	return false
}

// TestSync_BatchStoreAfterEviction covers a Batch that takes writable bytes
// of a chunk which is then evicted (its mapping waits, still mapped, until
// the batch ends), and stores to them after one or two Syncs: the store
// completes before the batch returns, so the Sync after that must flush the
// chunk. In the stale-table case the batch's table predates a growth, and
// WritableBytes finds the evicted mapping itself.
func TestSync_BatchStoreAfterEviction(t *testing.T) {
	for _, tc := range []struct {
		name       string
		chunks     int64
		staleTable bool
		syncs      int
	}{
		{"two Syncs in the batch", 2, false, 2},
		{"stale table", 16, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, MaxMapped: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cs := m.ChunkSize()
			if _, err := m.WriteAt(make([]byte, 1), tc.chunks*cs-1); err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt([]byte{1}, 0); err != nil { // maps chunk 0
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			err = m.Batch(func(b *Batch) error {
				var p []byte
				if !tc.staleTable {
					if p, err = b.WritableBytes(8, 8); err != nil {
						return err
					}
				} else if _, err := m.Append(make([]byte, 10)); err != nil { // a new table
					return err
				}
				var q [1]byte
				if _, err := m.ReadAt(q[:], cs+5); err != nil { // evicts chunk 0
					return err
				}
				if tc.staleTable {
					if p, err = b.WritableBytes(8, 8); err != nil {
						return err
					}
				}
				for range tc.syncs {
					if err := m.Sync(); err != nil {
						return err
					}
				}
				copy(p, "DURABLE!")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !m.pendingForSync(0) {
				t.Errorf("a store through WritableBytes finished with the batch, but the next Sync would not fsync chunk 0")
			}
		})
	}
}
