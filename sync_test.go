package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestSync_ScansOnlyDirty checks that Sync finds the dirty chunks through a
// queue the writers fill, not by scanning every mapped chunk: with a
// thousand chunks mapped and one written, Sync has one chunk to fsync.
func TestSync_ScansOnlyDirty(t *testing.T) {
	const chunks = 1000
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: chunks})
	if err := m.Grow(chunks * cs); err != nil {
		t.Fatal(err)
	}
	for i := range int64(chunks) {
		writeAt(t, m, []byte{1}, i*cs+7)
	}
	if got := m.DirtyChunks(); got != chunks {
		t.Errorf("after writing %d chunks: %d queued, want %d", chunks, got, chunks)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := m.DirtyChunks(); got != 0 {
		t.Errorf("after Sync: %d queued, want 0", got)
	}
	for range 3 { // many stores to one chunk queue it once
		writeAt(t, m, []byte{2}, 500*cs+9)
		writeAt(t, m, make([]byte, 100), 500*cs+100)
	}
	if got := m.DirtyChunks(); got != 1 {
		t.Errorf("after writing one chunk: %d queued, want 1", got)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	// A chunk pinned writable stays queued: its stores set no flag.
	p, err := m.PinWritable(3*cs, 8)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := m.DirtyChunks(); got != 1 {
			t.Errorf("with a writable pin, after Sync: %d queued, want 1", got)
		}
	}
	p.Release()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := m.DirtyChunks(); got != 0 {
		t.Errorf("after Release and Sync: %d queued, want 0", got)
	}
}

// TestSync_UnsyncedQueueBounded checks that a dataset written and evicted
// over and over without a Sync keeps a bounded queue.
func TestSync_UnsyncedQueueBounded(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Grow(400 * cs); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range int64(400) {
			writeAt(t, m, []byte{byte(round)}, i*cs)
		}
	}
	if got, bound := m.QueuedDirty(), 2*2+64+1; got > bound {
		t.Errorf("%d queued after 1200 writes to evicted chunks, want at most %d", got, bound)
	}
}

// TestSync_ReadPinNotRequeued checks that a read-only pin does not keep its
// chunk in Sync's queue: only writable pins take stores that set no flag.
func TestSync_ReadPinNotRequeued(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
	writeAt(t, m, []byte{1}, 10)
	p, err := m.Pin(0, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	for range 2 {
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.QueuedDirty(); got != 0 {
		t.Errorf("with a read pin held, after Sync: %d queued, want 0", got)
	}
}
