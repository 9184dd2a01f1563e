package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestPinFallingBackToViewKeepsBound: a Pin across chunks holds them in
// their arena slots one by one; when a later one's slot is held by another
// chunk it lets the earlier ones go and maps a private view instead. The
// chunks it let go were mapped past MaxMapped while held, so letting them go
// must evict down to the bound: Mapped <= MaxMapped + Pinned at once, and
// MaxMapped once every pin is released.
func TestPinFallingBackToViewKeepsBound(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 4 * cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(8 * cs); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("sixth"), 6*cs); err != nil {
		t.Fatal(err)
	}
	p6, err := m.Pin(6*cs, 5) // chunk 6 holds slot 2
	if err != nil {
		t.Fatal(err)
	}
	// Chunks 0 and 1 are held in slots 0 and 1, then chunk 2 finds slot 2
	// held: the Pin maps all three in a view.
	p, err := m.Pin(0, 2*cs+1)
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Mapped > 1+st.Pinned {
		t.Errorf("with a Pin in a view: Mapped %d > MaxMapped 1 + Pinned %d: %+v", st.Mapped, st.Pinned, st)
	}
	if got := string(p6.Bytes()); got != "sixth" {
		t.Errorf("chunk 6 pinned reads %q", got)
	}
	p.Release()
	p6.Release()
	if st := m.Stats(); st.Mapped > 1 || st.Pinned != 0 {
		t.Errorf("with nothing pinned: Mapped %d, Pinned %d, want at most 1 and 0: %+v", st.Mapped, st.Pinned, st)
	}
}
