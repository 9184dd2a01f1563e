package chunkmap

import (
	"bytes"
	"testing"
)

// TestSyncIDs_FollowerKeepsNone checks that a reader following a log whose
// writer retires old chunks with DropBefore keeps no chunk identities: it
// never syncs, so an identity per chunk it opened would only grow.
func TestSyncIDs_FollowerKeepsNone(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	w := openWriter(t, dir)
	if _, err := w.Append(bytes.Repeat([]byte{1}, cs)); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const rounds = 200
	b := make([]byte, 8)
	for range rounds {
		off, err := w.Append(bytes.Repeat([]byte{2}, cs))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		if err := w.DropBefore(off); err != nil {
			skipIfHeldDelete(t, err)
			t.Fatal(err)
		}
	}
	if _, err := r.ReadAt(b, w.Size()-8); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	n, chunks := len(r.mu.ids), r.mu.nchunks
	r.mu.Unlock()
	if n > int(chunks)+r.opts.MaxMapped {
		t.Errorf("reader holds %d chunk identities after following %d DropBefores; the dataset has %d chunks", n, rounds, chunks)
	}
	w.mu.Lock()
	wn := len(w.mu.ids)
	w.mu.Unlock()
	if wn > int(w.mu.nchunks) {
		t.Errorf("writer holds %d chunk identities for %d chunks", wn, w.mu.nchunks)
	}
}

// TestSyncIDs_BoundedByDirty checks that a writer keeps chunk identities
// only for chunks a Sync may fsync by name (the dirty ones), not for every
// chunk it ever opened: reading across a dataset of many small chunks must
// not grow the Manager's memory with the chunks touched (an identity is
// some 300 bytes: 16 Mi chunks of 64 KiB in 1 TiB would hold 5 GiB).
func TestSyncIDs_BoundedByDirty(t *testing.T) {
	const cs = MinChunkSize
	const n = 2000
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(n * cs); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	buf := make([]byte, 8)
	for i := int64(0); i < n; i++ {
		if _, err := m.ReadAt(buf, i*cs); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	ids, held := len(m.mu.ids), len(m.mu.live)+len(m.mu.fds)+len(m.mu.dirty)
	m.mu.Unlock()
	if ids > held {
		t.Errorf("after reading one byte of each of %d chunks (nothing written): %d chunk identities kept, for %d chunks mapped, open or dirty", n, ids, held)
	}
}

// openWriter opens a read-write Manager of 64 KiB chunks on dir, closed when
// the test ends.
func openWriter(t *testing.T, dir string) *Manager {
	t.Helper()
	m, err := Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
