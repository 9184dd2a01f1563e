//go:build linux

package chunkmap_test

// The wording of errors that wrap another call's error. The README: "Messages
// name the operation, then the length and the offset where the call has
// them, then the dataset's directory or the file involved, each once"; the
// accessor's package doc: every error "names the operation and the offset".

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// TestFaultz_ScanErrorNamesOffsetOnce removes chunk 1's file and checks
// that the error a scan over it leaves in Err names the offset once, as
// every other call's error does.
func TestFaultz_ScanErrorNamesOffsetOnce(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	dir := filepath.Join(t.TempDir(), "ds")
	fzWriteClosed(t, dir, make([]byte, 3*fzCS))
	// A Manager that has not opened chunk 1 yet meets its file gone.
	m := fzOpen(t, dir, chunkmap.Options{})
	path := fzChunk(fzRealDir(t, dir), 1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	va := accessor.New(m, nil)
	off := fzCS + 64
	for _, op := range fzOps() {
		if op.op != "scan" {
			continue
		}
		var err error
		fzDo(t, op.name, func() { err = op.run(m, va, off) })
		fzCheck(t, op.name+" over a removed chunk file", err, chunkmap.ErrFault, fzMsg{op: "scan", files: []string{path}})
	}
}

// TestFaultz_ZeroingOnFullDiskNamedOnce grows a dataset over bytes a failed
// write left past Size, with the disk full: the stale bytes must be zeroed
// first, which fails, and the error must match ErrNoSpace and name the
// operation and its offset once, and the chunk file.
func TestFaultz_ZeroingOnFullDiskNamedOnce(t *testing.T) {
	root := mountTmpfs(t, 1<<20)
	dir := filepath.Join(root, "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// A bulk write allocates by its pwrite: the rest of chunk 1 stays a
	// hole.
	if _, err := m.Append(pattern(1, cs+18000)); err != nil {
		t.Fatal(err)
	}
	// With a few pages free, a bulk Append writes some of its bytes past
	// Size and fails, giving its range back: those bytes are stale.
	fillDisk(t, root, "filler")
	if err := os.Truncate(filepath.Join(root, "filler"), fileSize(t, filepath.Join(root, "filler"))-16<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(pattern(2, 70000)); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("Append of 70000 bytes with 16 KiB free: %v, want ErrNoSpace", err)
	}
	fillDisk(t, root, "filler2")
	size := m.Size()
	_, err = m.Append(make([]byte, 70000))
	if !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("Append over stale bytes on a full disk: %v, want ErrNoSpace", err)
	}
	msg := err.Error()
	if want := fmt.Sprintf("append 70000 bytes at offset %d", size); !strings.HasPrefix(msg, want) || strings.Count(msg, "bytes at offset") != 1 {
		t.Errorf("error %q: want it to start with %q and name one length and offset", msg, want)
	}
	if !strings.Contains(msg, chunk.Name(1)) {
		t.Errorf("error %q does not name chunk file %s", msg, chunk.Name(1))
	}
}
