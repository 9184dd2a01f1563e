package chunkmap_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestOpen_CreateDirSyncFailsLeavesNoDataset: an Open that creates a
// dataset and fails at the last step of writing its manifest, the fsync of
// the directory after the rename, leaves no dataset behind, as a failure
// at any later step does: the MANIFEST it renamed into place goes again
// (and the directory, if Open made it). Left there, it was a dataset that
// no Open had made: a later Open with ErrorIfNotExists opened it, and one
// with another ChunkSize was refused with ErrInvalidOptions.
func TestOpen_CreateDirSyncFailsLeavesNoDataset(t *testing.T) {
	tests := []struct {
		name    string
		makeDir bool // the directory exists before Open
	}{
		{"in an existing directory", true},
		{"in a directory Open makes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			if tt.makeDir {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			f := vfstest.NewFaulty(nil)
			o := chunkmap.Options{ChunkSize: cs}
			chunkmap.SetFS(&o, f)
			// Only the dataset directory's own fsync: syncMade fsyncs
			// its parent.
			rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSyncDir, "ds"), Err: syscall.EIO, Times: 1})
			m, err := chunkmap.Open(dir, &o)
			if err == nil {
				m.Close()
				t.Fatalf("Open with the directory's fsync failing succeeded")
			}
			if f.Fired(rule) != 1 {
				t.Fatalf("the rule fired %d times, want 1: %v", f.Fired(rule), err)
			}
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("Open: %v, want ErrIO and EIO", err)
			}
			if _, serr := os.Lstat(filepath.Join(dir, chunkmap.ManifestName)); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("after the failed Open, %s is there (%v): a dataset no Open made", chunkmap.ManifestName, serr)
			}
			if _, serr := os.Lstat(dir); tt.makeDir == errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("after the failed Open, the directory: %v, want it there only if it was before", serr)
			}
			m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, ErrorIfNotExists: true})
			if err == nil {
				m.Close()
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open with ErrorIfNotExists after the failed Open: %v, want fs.ErrNotExist", err)
			}
		})
	}
}
