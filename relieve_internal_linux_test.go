package chunkmap

import (
	"bytes"
	"syscall"
	"testing"
)

// TestRelieve_RaiseWaitsForMappings: after a refusal for want of mappings,
// the bound must not rise while the process has no mappings to spare (a
// probe would take it back to its limit, where the runtime's next mapping
// kills it), the looks for room must grow rarer, and once there is room the
// bound must climb back to MaxMapped, with every byte read right
// throughout.
func TestRelieve_RaiseWaitsForMappings(t *testing.T) {
	processMappings(t) // skips without /proc
	const cs, chunks, maxMapped = MinChunkSize, 24, 16
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := make([]byte, chunks*cs)
	for i := range want {
		want[i] = byte(i*7 + i>>16)
	}
	if _, err := m.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, cs)
	scan := func(n int) {
		t.Helper()
		for i := range int64(n) {
			if _, err := m.ReadAt(got, i*cs); err != nil || !bytes.Equal(got, want[i*cs:(i+1)*cs]) {
				t.Fatalf("ReadAt of chunk %d: %v, or the bytes differ", i, err)
			}
		}
	}
	scan(maxMapped)
	m.mu.Lock()
	m.relieveLocked(syscall.ENOMEM)
	lowered := m.mu.mapBound
	m.mu.Unlock()
	if lowered != 3*maxMapped/8 {
		t.Fatalf("a refusal with %d chunks mapped left the bound at %d, want %d", maxMapped, lowered, 3*maxMapped/8)
	}

	defer func(f func() int64) { mapCountLimit = f }(mapCountLimit)   // spareMappings reads it
	mapCountLimit = func() int64 { n, _ := mappingCount(); return n } // no room
	for range 10 {
		scan(chunks)
		if st := m.Stats(); st.Lowered != lowered || st.Refusals != 1 {
			t.Fatalf("with no mappings to spare: Lowered %d, Refusals %d; want %d and 1", st.Lowered, st.Refusals, lowered)
		}
	}
	m.mu.Lock()
	wait := max(m.mu.raiseAfter, m.mu.lookAfter)
	m.mu.Unlock()
	if wait <= raiseFirst {
		t.Errorf("after %d misses with no room, the next look waits %d misses, want more than %d", 10*chunks, wait, raiseFirst)
	}

	mapCountLimit = maxMapCount
	for n := 0; m.Stats().Lowered != 0; n++ {
		if n == 60 {
			t.Fatalf("with room again, %d scans of %d chunks left %+v", n, chunks, m.Stats())
		}
		scan(chunks)
	}
	if st := m.Stats(); st.Refusals != 1 {
		t.Errorf("the bound's climb met %d refusals, want none", st.Refusals-1)
	}
	scan(maxMapped)
	before := m.Stats()
	scan(maxMapped)
	if st := m.Stats(); st.Evictions != before.Evictions || st.Mapped != maxMapped {
		t.Errorf("with the bound back at %d, a scan of as many chunks evicted %d and left %d mapped", maxMapped, st.Evictions-before.Evictions, st.Mapped)
	}
}
