//go:build chunkmap_interleave && unix

package chunkmap

import (
	"bytes"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestInterleave_SyncDuringStore runs a Sync while a lock-free WriteAt is
// in its chunk's slot, after its check and before its store: the Sync
// clears the chunk's dirty flag and fsyncs the chunk before the store, so
// the store leaves the slot finding the flag clear, and must mark the
// chunk for the next Sync (sync.go). Between that and the mark, the chunk
// may be evicted, or the Manager closed. Whatever came, the store must be
// fsync'd by the next Sync, or by the Close: the test counts the fsyncs of
// the chunk file after the WriteAt returned (or, for Close, after the
// store), and reads the bytes back after a reopen.
func TestInterleave_SyncDuringStore(t *testing.T) {
	const cs = MinChunkSize
	tests := []struct {
		name string
		// beforeMark runs after the store left its slot, before it
		// marks its chunk; nil for nothing.
		beforeMark func(t *testing.T, m *Manager)
		closed     bool // beforeMark closed m
	}{
		{"nothing", nil, false},
		{"evicted", func(t *testing.T, m *Manager) {
			// Chunk 2 takes slot 0 (MaxMapped 1, two slots).
			p := make([]byte, 8)
			if _, err := m.ReadAt(p, 2*cs); err != nil || p[0] != 'c' {
				t.Errorf("read of chunk 2 = %q, %v", p, err)
			}
			if own := m.slots[0].own.Load(); own != 3 {
				t.Errorf("slot 0 holds chunk %d after a read of chunk 2, want 2: the test evicts nothing", own-1)
			}
		}, false},
		{"closed", func(t *testing.T, m *Manager) {
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := &chunkOpenFS{FS: vfs.OS}
			opts := &Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 2 * cs, NoAdmission: true}
			opts.fs = fsys
			m, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { m.Close() }() // the last one opened
			for idx := range int64(3) {
				if _, err := m.Append(bytes.Repeat([]byte{byte('a' + idx)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			const off = 100
			dirtyChunks(t, m, off)
			var afterStore int // fsyncs of chunk 0 once the store was made
			fns := map[raceSite]func(){
				siteWrite1: func() {
					if err := m.Sync(); err != nil {
						t.Errorf("Sync during the store: %v", err)
					}
				},
				siteMarkStored: func() {
					afterStore = fsys.synced(0)
					if tc.beforeMark != nil {
						tc.beforeMark(t, m)
					}
				},
			}
			reached := hooksAt(t, fns)
			want := []byte("0123456789abcdef")
			if _, err := m.WriteAt(want, off); err != nil {
				t.Fatalf("WriteAt at %d: %v", off, err)
			}
			if r := reached(); !r[siteWrite1] || !r[siteMarkStored] {
				t.Fatalf("race sites reached: %v; want the store's and its mark's (the store found the flag clear)", r)
			}
			if !tc.closed {
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			if n := fsys.synced(0); n <= afterStore {
				t.Errorf("chunk 0 was fsync'd %d times once the store was made, and %d times after the next Sync or Close: the store is not durable", afterStore, n)
			}
			if !tc.closed {
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if m, err = Open(dir, nil); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
				t.Errorf("after a reopen, ReadAt(%d) = %q, %v; want %q", off, got, err, want)
			}
		})
	}
}
