//go:build unix

package chunkmap_test

import (
	"bytes"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestClose_CleanReplacedChunkIsNoFault checks a synced chunk, still
// mapped and clean, whose file another program replaces with an identical
// copy: nothing was written since the Sync, so Close must not report
// unsynced writes lost.
func TestClose_CleanReplacedChunkIsNoFault(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(bytes.Repeat([]byte{5}, cs), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("mapped!!"), 8); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	if live, _, _ := m.Mappings(); live != 1 {
		t.Fatalf("%d chunks mapped, want 1", live)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	chunkmap.ReplaceChunkFile(t, dir, 0)
	if err := m.Close(); err != nil {
		t.Errorf("Close = %v; nothing was written since the last Sync", err)
	}
}
