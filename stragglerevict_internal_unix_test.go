//go:build unix

package chunkmap

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestClose_StragglerWhoseChunkWasEvicted checks that a lock-free store
// that left its chunk's slot finding the dirty flag clear is durable once
// Close has returned, also when the chunk was evicted before the store
// marked it. Such a store marks its chunk only after it left the slot
// (markStored); an eviction in between finds the flag clear, and Close, run
// before the store's mark, finds the chunk neither mapped nor listed dirty:
// the store's call then returned nil with its bytes in no fsync. The steps
// of the race are taken one at a time: the store, the eviction (a miss of
// another chunk with MaxMapped 1), Close, and then the store's mark, which
// its call makes just before it returns nil. The image checked is the
// chunk file as of its last fsync, as a power loss would leave it.
func TestClose_StragglerWhoseChunkWasEvicted(t *testing.T) {
	const cs = MinChunkSize
	const off, val = 64, 0x5eed_5eed_5eed_5eed
	for _, tc := range []struct {
		name string
		// store makes a store into chunk 0 that leaves its slot finding
		// the flag clear, and does not mark the chunk.
		store func(t *testing.T, m *Manager)
	}{
		{"an atomic into a clean chunk", func(t *testing.T, m *Manager) {
			t.Helper()
			_, _, ok, clean := m.hotAtomic(atomicStore, 8, off, val, 0, nil)
			if !ok || !clean {
				t.Fatalf("hotAtomic: ok %v, clean %v; want a lock-free store into a clean chunk", ok, clean)
			}
		}},
		{"a WriteAt in its slot while a Sync clears the flag", func(t *testing.T, m *Manager) {
			t.Helper()
			p, err := m.PinWritable(off, 8) // marks the chunk dirty when released
			if err != nil {
				t.Fatal(err)
			}
			p.Release()
			k := int64(m.slotNum(0))
			s := &m.slots[k]
			if w := s.enter(); w&dirtyBit == 0 {
				t.Fatal("the chunk is not marked dirty: hotWrite1 would not store")
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint64(m.slotBytes(k, off, 8), val)
			if s.leave() {
				t.Fatal("the flag is set as the store leaves: no straggler")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := vfstest.NewRecorder(vfs.OS, "A")
			rec.NoSync = true // the image comes from the log
			o := &Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true}
			o.fs = rec
			dir := t.TempDir()
			m, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Append(make([]byte, 2*cs)); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			if _, err := m.ReadAt(buf, 0); err != nil { // maps chunk 0
				t.Fatal(err)
			}
			tc.store(t, m)
			if _, err := m.ReadAt(buf, cs); err != nil { // maps chunk 1, evicting chunk 0
				t.Fatal(err)
			}
			m.mu.Lock()
			mapped := m.mappingLocked(0) != nil
			m.mu.Unlock()
			if mapped {
				t.Fatal("chunk 0 is still mapped: the race needs it evicted")
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m.markStored(0) // the store's call returns nil after this

			var last []byte
			for _, s := range rec.Log(1, rec.Steps()) {
				if s.Kind == vfstest.KindSync && filepath.Base(s.Path) == chunk.Name(0) {
					last = s.Data
				}
			}
			if len(last) != cs {
				t.Fatalf("chunk 0's file holds %d bytes as of its last fsync, want %d", len(last), cs)
			}
			if got := binary.LittleEndian.Uint64(last[off:]); got != val {
				t.Errorf("chunk 0 as of its last fsync holds %#x at %d, want %#x: a store that returned nil is lost to a power loss after Close", got, off, uint64(val))
			}
		})
	}
}
