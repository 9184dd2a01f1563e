//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestRun_ChunkFilesThatAreOneFile: Open refuses a dataset two of whose
// chunk names are hard links to one file. verify found nothing wrong in
// the files and reported Open's refusal with the advice "the files look
// consistent", info counted 0 problems under its warning, and salvage
// copied without a word. Each now names the two chunk files as one
// problem, and none changes the directory.
func TestRun_ChunkFilesThatAreOneFile(t *testing.T) {
	dir := newDataset(t)
	second := filepath.Join(dir, chunk.Name(3))
	remove(t, second)
	if err := os.Link(filepath.Join(dir, chunk.Name(1)), second); err != nil {
		t.Skipf("cannot make a hard link here: %v", err)
	}
	before := snapshot(t, dir)
	const what = "0000000000000001.chunk and 0000000000000003.chunk are one file"

	code, out, errOut := runCmd(t, "verify", dir)
	if code != exitFail || !strings.Contains(out, "FAILED, 1 problem(s)") || !strings.Contains(out, what) ||
		strings.Contains(out, "look consistent") {
		t.Errorf("verify: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and one problem saying %q", code, out, errOut, exitFail, what)
	}
	code, out, errOut = runCmd(t, "info", dir)
	if !strings.Contains(out, "damaged     1 problem(s)") || !strings.Contains(errOut, what) {
		t.Errorf("info: exit %d, stdout:\n%s\nstderr:\n%s\nwant 1 problem, and a warning saying %q", code, out, errOut, what)
	}
	outDir := filepath.Join(t.TempDir(), "out")
	code, out, errOut = runCmd(t, "salvage", dir, outDir)
	if code != exitOK || !strings.Contains(out, "damage: "+what) {
		t.Errorf("salvage: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and a damage line saying %q", code, out, errOut, exitOK, what)
	}
	if code, out, _ := runCmd(t, "verify", outDir); code != exitOK {
		t.Errorf("verify of the salvaged copy: exit %d:\n%s", code, out)
	}
	checkUnchanged(t, dir, before)
}
