//go:build unix

package chunkmap

import (
	"testing"
)

// TestSync_RefusedStoreInSlotIsNoLateWrite checks a Sync that clears a
// chunk's dirty flag while a lock-free store that stores nothing is
// announced in the chunk's slot: a WriteAt (or atomic, or Scatter) of
// another chunk that maps to the same slot, in the instant between its
// announcement and its check of the slot's owner. The Sync cannot tell it
// from a store that leaves finding the flag clear (a straggler), and marks
// the slot late; but the chunk was stored to only before the Sync, which
// fsync'd it. When another program then replaces the chunk's file with an
// identical copy, an eviction of the chunk, or Close, must not report
// writes lost, as for a clean chunk (TestClose_CleanReplacedChunkIsNoFault).
func TestSync_RefusedStoreInSlotIsNoLateWrite(t *testing.T) {
	const cs = MinChunkSize
	for _, evict := range []bool{true, false} {
		name := "close"
		if evict {
			name = "eviction then Sync"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := Open(dir, &Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.Append(make([]byte, 2*cs)); err != nil {
				t.Fatal(err)
			}
			p, err := m.PinWritable(64, 8) // maps chunk 0, marked dirty when released
			if err != nil {
				t.Fatal(err)
			}
			copy(p.Bytes(), "written!")
			p.Release()
			s := &m.slots[m.slotNum(0)]
			if w := s.enter(); w&dirtyBit == 0 { // the other chunk's store announces itself
				t.Fatal("chunk 0 is not marked dirty")
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			s.leave() // it finds the slot is not its chunk's, and stores nothing

			ReplaceChunkFile(t, dir, 0)
			if evict {
				buf := make([]byte, 8)
				if _, err := m.ReadAt(buf, cs); err != nil { // maps chunk 1, evicting chunk 0
					t.Fatal(err)
				}
				if err := m.Sync(); err != nil {
					t.Errorf("Sync = %v; nothing was written to chunk 0 since the last Sync", err)
				}
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close = %v; nothing was written to chunk 0 since the last Sync", err)
			}
		})
	}
}
