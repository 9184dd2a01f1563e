package chunkmap

import (
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestSync_OneManifestLstat: a Sync looks at the manifest's name once,
// whether or not it writes a record: an Append then Sync (a log's commit)
// pays one lstat of it, not two.
func TestSync_OneManifestLstat(t *testing.T) {
	var manifests atomic.Int64 // the fan-out of Sync lstats chunk files on goroutines of its own
	fsys := &lstatCountFS{FS: vfs.OS}
	fsys.onLstat = func(name string) {
		if filepath.Base(name) == ManifestName {
			manifests.Add(1)
		}
	}
	o := &Options{ChunkSize: MinChunkSize}
	o.fs = fsys
	m, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i, grows := range []bool{true, false, true} {
		if grows {
			if _, err := m.Append([]byte("record")); err != nil {
				t.Fatal(err)
			}
		}
		manifests.Store(0)
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		if n := manifests.Load(); n != 1 {
			t.Errorf("Sync %d (after an Append: %v) made %d lstats of the manifest, want 1", i, grows, n)
		}
	}
}
