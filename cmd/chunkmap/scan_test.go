package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// goneEntry is a directory entry whose file was removed after the listing,
// as a live writer's Truncate or DropBefore removes chunk files.
type goneEntry struct{ fs.DirEntry }

func (goneEntry) Info() (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "lstat", Path: "gone", Err: fs.ErrNotExist}
}

// brokenEntry is one whose Info fails for another reason.
type brokenEntry struct{ fs.DirEntry }

func (brokenEntry) Info() (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "lstat", Path: "broken", Err: errors.New("input/output error")}
}

// TestScanEntries_Vanished checks that the tools (which open a dataset
// read-only, beside a live writer) pass over a file removed between the
// listing and its lstat, and still fail on any other error.
func TestScanEntries_Vanished(t *testing.T) {
	dir := newDataset(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var gone string
	for i, e := range entries {
		if e.Name() == chunk.Name(5) {
			gone = filepath.Join(dir, e.Name())
			entries[i] = goneEntry{e}
		}
	}
	if gone == "" {
		t.Fatalf("%s has no %s", dir, chunk.Name(5))
	}
	s, err := scanEntries(entries)
	if err != nil {
		t.Fatalf("scanEntries with %s removed after the listing: %v", gone, err)
	}
	if _, ok := s.chunks[5]; ok || len(s.chunks) != 5 {
		t.Errorf("chunks %v: want 0 to 4, without the one removed", s.indices())
	}
	entries[0] = brokenEntry{entries[0]}
	if _, err := scanEntries(entries); err == nil {
		t.Error("scanEntries passed over an entry whose lstat failed with an I/O error")
	}
}
