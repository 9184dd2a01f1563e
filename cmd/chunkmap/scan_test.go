package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

// TestScanDir_MemoryPerChunk: a scan keeps a few dozen bytes per chunk
// file, not its fs.FileInfo (a few hundred), so that the tools scan a
// dataset of a million chunks in tens of megabytes; and it lists the
// directory in batches, sorting what it keeps by name.
func TestScanDir_MemoryPerChunk(t *testing.T) {
	const n = 2*scanBatch + 17
	dir := t.TempDir()
	for i := range int64(n) {
		f, err := os.Create(filepath.Join(dir, chunk.Name(i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for _, name := range []string{"zz-unknown", "aa-unknown", chunk.Name(3) + ".tmp", chunk.Name(1) + ".tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := scanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(s)
	if len(s.chunks) != n || s.files != n+4 {
		t.Fatalf("scan found %d chunk files and %d files, want %d and %d", len(s.chunks), s.files, n, n+4)
	}
	if per := kept / n; per > 128 {
		t.Errorf("scan of %d chunk files keeps %d bytes, %d per chunk; want at most 128", n, kept, per)
	}
	if want := []string{"aa-unknown", "zz-unknown"}; !slices.Equal(s.unknown, want) {
		t.Errorf("unknown files %q, want %q", s.unknown, want)
	}
	if want := []string{chunk.Name(1) + ".tmp", chunk.Name(3) + ".tmp"}; !slices.Equal(s.temps, want) {
		t.Errorf("temporary files %q, want %q", s.temps, want)
	}
	t.Logf("%d chunk files: %d bytes kept, %d per chunk", n, kept, kept/n)
}
