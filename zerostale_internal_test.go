package chunkmap

import (
	"bytes"
	"testing"
)

// TestZeroStale_OnceAfterOpen checks that the first growth after an Open
// leaves nothing past it to zero where the file system can punch holes:
// hwm comes down to the growth's end, so a stream of appends makes no
// zeroing call each, as it did while hwm stayed at the end of the chunk
// file (a chunk's worth of appends, 1 GiB with the default chunk size).
// Where holes cannot be punched, each growth zeroes its own bytes, and
// hwm stays, as it does on a tmpfs, where zeroStaleLocked punches none
// (holesFault). Either way the stale bytes past the old Size read as
// zeros.
func TestZeroStale_OnceAfterOpen(t *testing.T) {
	for _, noHoles := range []bool{false, true} {
		dir := t.TempDir()
		m := openWriter(t, dir)
		cs := m.ChunkSize()
		if _, err := m.WriteAt(bytes.Repeat([]byte{'S'}, int(cs)), 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Truncate(100); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m = openWriter(t, dir)
		m.mu.Lock()
		m.mu.noHoles = noHoles
		hwm, holes := m.mu.hwm, m.holesLocked()
		m.mu.Unlock()
		if hwm != cs {
			t.Fatalf("hwm after Open = %d, want the end of the chunk file, %d", hwm, cs)
		}
		if _, err := m.Append([]byte("next")); err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		hwm = m.mu.hwm
		m.mu.Unlock()
		if want := map[bool]int64{true: 104, false: cs}[holes]; hwm != want {
			t.Errorf("noHoles %v, holes punched %v: hwm after an Append to 104 = %d, want %d", noHoles, holes, hwm, want)
		}
		if err := m.Truncate(cs); err != nil {
			t.Fatal(err)
		}
		wantRead(t, m, 0, 100, 'S', "the bytes before the old Size")
		wantRead(t, m, 104, int(cs-104), 0, "the stale bytes past the old Size")
	}
}
