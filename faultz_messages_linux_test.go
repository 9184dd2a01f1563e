//go:build linux

package chunkmap_test

// The wording of errors that wrap another call's error. The README: "Messages
// name the operation, then the length and the offset where the call has
// them, then the dataset's directory or the file involved, each once"; the
// accessor's package doc: every error "names the operation and the offset".

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestFaultz_ScanErrorNamesOffsetOnce removes chunk 1's file and checks
// that the error a scan over it leaves in Err names the offset once, as
// every other call's error does.
func TestFaultz_ScanErrorNamesOffsetOnce(t *testing.T) {
	fzSkipInChild(t)
	fzWatchdog(t, 20*time.Second)
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
