//go:build unix

package chunkmap_test

import (
	"bytes"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestSync_ReplacedCleanChunkIsNoFault checks a synced, clean chunk file
// that another program replaces before the Manager opens the new one (the
// old mapping evicted): every later write goes to the file under the name,
// and nothing is lost, so no Sync may report a loss, neither through the
// mapping nor by name after the mapping was evicted dirty, and the bytes
// must be there after reopening.
func TestSync_ReplacedCleanChunkIsNoFault(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, 2*cs), 0); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if _, err := m.WriteAt([]byte("11111111"), cs); err != nil { // maps chunk 1
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(b, 0); err != nil { // evicts chunk 1 (clean)
		t.Fatal(err)
	}
	// Another program replaces the clean chunk file with a copy of it.
	chunkmap.ReplaceChunkFile(t, dir, 1)
	// The Manager maps the file now under the name and writes to it.
	if _, err := m.WriteAt([]byte("22222222"), cs+8); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(b, 0); err != nil { // evicts chunk 1, dirty
		t.Fatal(err)
	}
	syncErr := m.Sync()
	if err := m.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, 16)
	if _, err := r.ReadAt(got, cs); err != nil || !bytes.Equal(got, []byte("1111111122222222")) {
		t.Fatalf("after reopening: %q, %v", got, err)
	}
	if syncErr != nil {
		t.Errorf("Sync = %v; but the write went to the file under the chunk's name and is there after reopening", syncErr)
	}
}
