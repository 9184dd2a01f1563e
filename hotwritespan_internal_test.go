package chunkmap

import (
	"bytes"
	"testing"
)

// TestHotWriteSpan_SizeCheckedAfterEntering checks that hotWriteSpan, for a
// caller whose check of its range against Size may be stale (WriteAt's
// fast path), loads Size again after entering the slots and declines a
// range that Size no longer covers, as slots.go requires: a Truncate may
// have cut the range between the caller's check and the store, keeping the
// chunks, and a store past the new Size would reappear when a growth
// reaches it. The chunks stay mapped, dirty and allocated past the cut, so
// that Size is the one reason to decline, which the same call without the
// check then shows by storing.
func TestHotWriteSpan_SizeCheckedAfterEntering(t *testing.T) {
	m := dirtyMapped(t, 0, 1)
	cs := m.ChunkSize()
	if err := m.Truncate(cs + 16); err != nil {
		t.Fatal(err)
	}
	for k := range int64(2) {
		if s := &m.slots[k&m.smask]; s.own.Load() != k+1 || !s.isDirty() || s.alloc.Load() < cs {
			t.Fatalf("chunk %d is not mapped, dirty and allocated after the Truncate: own %d, dirty %v, alloc %d",
				k, s.own.Load(), s.isDirty(), s.alloc.Load())
		}
	}
	span := bytes.Repeat([]byte{'B'}, 128) // [cs-64, cs+64): past Size from cs+16
	if m.hotWriteSpan(span, cs-64, true) {
		t.Fatalf("hotWriteSpan stored [%d, %d) past Size %d", cs-64, cs+64, m.Size())
	}
	wantRead(t, m, cs-64, 80, 'A', "the bytes below Size after a declined store")
	if m.slots[0].storing() || m.slots[1&m.smask].storing() {
		t.Fatal("hotWriteSpan left a store announced after declining")
	}
	if !m.hotWriteSpan(span, cs-64, false) {
		t.Fatal("hotWriteSpan declined the range without the Size check too: the test does not reach the check")
	}
}

// dirtyMapped opens a writer of three chunks of 64 KiB of 'A's, closed when
// the test ends, and maps and marks dirty the chunks listed, so that the
// lock-free stores of hot.go go to them.
func dirtyMapped(t *testing.T, chunks ...int64) *Manager {
	t.Helper()
	m := openWriter(t, t.TempDir())
	cs := m.ChunkSize()
	if _, err := m.WriteAt(bytes.Repeat([]byte{'A'}, int(3*cs)), 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		// A read maps the chunk; an atomic stores through the mapping,
		// which marks it dirty (a small WriteAt to a clean chunk may go
		// to its file instead: see cleanWrites).
		wantRead(t, m, c*cs+8, 8, 'A', "a read that maps the chunk")
		if _, err := m.AddUint64(c*cs+8, 0); err != nil {
			t.Fatal(err)
		}
	}
	return m
}
