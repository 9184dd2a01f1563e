package chunkmap

import (
	"testing"
)

// TestSlot_GenerationCatchesABA plays a lock-free reader's checks by hand
// around a remap of its slot to another chunk and back (own goes A, B, A):
// the own word is the same before and after, and only the generation shows
// that the bytes in between may have been another chunk's.
func TestSlot_GenerationCatchesABA(t *testing.T) {
	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 2 * cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(3 * cs); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := m.ReadAt(b[:], 0); err != nil { // chunk 0 mapped in slot 0
		t.Fatal(err)
	}
	s := m.slot(0)
	g, own := s.gen.Load(), s.own.Load()
	if own != 1 {
		t.Fatalf("own = %d after reading chunk 0, want 1", own)
	}
	// What a reader preempted between its two checks would miss.
	if _, err := m.ReadAt(b[:], 2*cs); err != nil { // chunk 2 takes slot 0
		t.Fatal(err)
	}
	if _, err := m.ReadAt(b[:], 0); err != nil { // chunk 0 takes it back
		t.Fatal(err)
	}
	if s.own.Load() != own {
		t.Fatalf("own = %d after the round trip, want %d again", s.own.Load(), own)
	}
	if s.gen.Load() == g {
		t.Fatal("generation unchanged after the slot held another chunk: a reader would return its bytes")
	}
	// And hotRead1 itself, checked between its loads by the same rule,
	// succeeds only when nothing moved.
	if !m.hotRead1(b[:], 0, nil) {
		t.Fatal("hotRead1 of a mapped chunk failed")
	}
}

// TestSlot_LeaveReadsOwnDirtyFlag checks that a lock-free writer learns the
// dirty flag of its own chunk as it leaves the slot, in the same atomic
// operation, so an eviction and a remap after it cannot hand it another
// chunk's flag.
func TestSlot_LeaveReadsOwnDirtyFlag(t *testing.T) {
	var s slot
	s.enter()
	if s.leave() {
		t.Fatal("leave reported a clean slot dirty")
	}
	s.enter()
	s.setDirty()
	if !s.storing() {
		t.Fatal("storing() = false with a writer in the slot")
	}
	if !s.leave() {
		t.Fatal("leave reported a dirty slot clean")
	}
	if s.storing() {
		t.Fatal("storing() = true with no writer in the slot")
	}
	if !s.takeDirty() || s.isDirty() || s.takeDirty() {
		t.Fatal("takeDirty did not clear the flag exactly once")
	}
}
