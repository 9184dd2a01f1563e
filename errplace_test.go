//go:build linux

package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestTruncatedManifestErrorsNameTheirCall truncates the manifest under
// a writer: Sync and then Close report ErrCorrupt, each under its own
// operation, naming the directory once before the message.
func TestTruncatedManifestErrorsNameTheirCall(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, chunkmap.ManifestName), 0); err != nil {
		t.Fatal(err)
	}
	m.WriteAt([]byte("y"), 10) // extends Size: the page faults
	err = m.Sync()
	if !errors.Is(err, chunkmap.ErrCorrupt) || !strings.HasPrefix(err.Error(), "sync ") {
		t.Errorf("Sync: %v, want ErrCorrupt named \"sync\"", err)
	}
	err = m.Close()
	if !errors.Is(err, chunkmap.ErrCorrupt) || !strings.HasPrefix(err.Error(), "close ") {
		t.Errorf("Close: %v, want ErrCorrupt named \"close\"", err)
	}
	t.Logf("Close: %v", err)
}
