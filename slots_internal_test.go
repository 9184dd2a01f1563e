package chunkmap

import (
	"testing"
	"unsafe"
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
	if d, _, _ := s.takeMarks(); !d || s.isDirty() {
		t.Fatal("takeMarks did not clear the flag")
	}
	if d, _, _ := s.takeMarks(); d {
		t.Fatal("takeMarks reported the flag set twice")
	}
	// The late bit counts no store: a slot marked late with no writer in
	// it is not storing, and a store's leave reads the flag past it.
	s.setLate()
	if s.storing() {
		t.Fatal("storing() = true for a slot marked late with no writer in it")
	}
	s.enter()
	if s.leave() {
		t.Fatal("leave reported a slot marked only late dirty")
	}
	if _, stored, _ := s.takeMarks(); !stored {
		t.Fatal("takeMarks did not report the late mark as a store")
	}
}

// TestSlot_SyncKeepsLateWhileStoring checks the late mark's rule for Sync:
// a Sync that clears a set flag while a store is in the slot marks the slot
// late (the store leaves finding the flag clear and marks its chunk only
// afterwards), and a Sync's clearLate clears the mark only once no store
// is in the slot.
func TestSlot_SyncKeepsLateWhileStoring(t *testing.T) {
	var s slot
	s.setDirty()
	s.enter()
	if !s.takeDirtyIn() {
		t.Fatal("takeDirtyIn reported a dirty slot clean")
	}
	s.clearLate()
	if s.leave() {
		t.Fatal("the store left finding the flag set after a Sync cleared it")
	}
	if _, stored, maybe := s.takeMarks(); stored || !maybe {
		t.Fatal("a Sync that cleared the flag under a store, then clearLate with the store still in, left the slot not late (or late as for a store known to have stored)")
	}
	s.setLate()
	s.clearLate()
	if _, _, maybe := s.takeMarks(); maybe {
		t.Fatal("clearLate left a slot with no store in it late")
	}
	s.setDirty()
	s.enter()
	s.takeDirtyIn()
	s.leave()
	s.clearLate()
	if _, _, maybe := s.takeMarks(); maybe {
		t.Fatal("clearLate left a slot that a Sync marked late, with no store in it now, late")
	}
	// A clean slot's Sync marks nothing late, store in it or not.
	s.enter()
	if s.takeDirtyIn() {
		t.Fatal("takeDirtyIn reported a clean slot dirty")
	}
	s.leave()
	if _, _, maybe := s.takeMarks(); maybe {
		t.Fatal("takeDirtyIn of a clean slot marked it late")
	}
}

// TestSlotSize pins the size of a slot that slots.go's reservation sizes
// count in: a Manager of small chunks keeps a table of up to maxSlots of
// them from its Open on (192 KiB for 64 KiB chunks with the default
// MaxMapped), so a field added to slot is a cost to weigh.
func TestSlotSize(t *testing.T) {
	if got := unsafe.Sizeof(slot{}); got != 48 {
		t.Errorf("a slot takes %d bytes, want 48 (update the sizes in slots.go's comments)", got)
	}
}
