package chunkmap

import (
	"errors"
	"testing"
)

// TestMapShare_SetupFailBalanced: newManager's failure after reserveArena
// (a state page that faults) gives back what reserveArena counted.
func TestMapShare_SetupFailBalanced(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	m.WriteAt(make([]byte, 100), 0)
	m.Close()
	start := arenasHeld.Load()
	o, err := (&Options{ChunkSize: MinChunkSize}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := readManifest(o.fsys(), dir)
	if err != nil {
		t.Fatal(err)
	}
	mfl, err := openManifestFile(o.fsys(), dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer mfl.close()
	if err := mfl.f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	_, err = newManager(dir, o, [48]byte{}, ms, ms.mf, 1, mfl, false)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("newManager over a truncated state page = %v", err)
	}
	if got := arenasHeld.Load(); got != start {
		t.Errorf("arenasHeld %d, want %d", got, start)
	}
}
