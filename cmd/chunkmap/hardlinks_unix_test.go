//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestRun_ChunkFilesThatAreOneFile: Open refuses a dataset two of whose
// chunk names are hard links to one file. verify found nothing wrong in
// the files and reported Open's refusal with the advice "the files look
// consistent", info counted 0 problems under its warning, and salvage
// copied without a word. Each now names the two chunk files as one
// problem, and none changes the directory. salvage, which copies the file
// into both chunks, exits with status 3, not 0 and "nothing lost": one of
// the two chunks holds the other's bytes, and a script must not take the
// copy for a whole one.
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
	if code != exitDamaged || !strings.Contains(out, "damage: "+what) || strings.Contains(out, "nothing lost") ||
		!strings.Contains(out, "1 pair of chunk names are one file") || !strings.Contains(errOut, "hard links") {
		t.Errorf("salvage: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, a damage line saying %q, and the pair in the summary", code, out, errOut, exitDamaged, what)
	}
	if code, out, _ := runCmd(t, "verify", outDir); code != exitOK {
		t.Errorf("verify of the salvaged copy: exit %d:\n%s", code, out)
	}
	// cat prints a range over either chunk of the pair whole, but fails
	// naming the pair: one of the two holds the other's bytes. A range
	// over neither is the dataset's. The hard link makes chunk 3 read
	// chunk 1's bytes.
	wantBytes := want(0, testSize, nil)
	copy(wantBytes[3*tcs:4*tcs], wantBytes[tcs:2*tcs])
	for _, tc := range []struct {
		off, n   int64
		wantCode int
	}{
		{0, tcs, exitOK},
		{tcs - 10, 20, exitFail},
		{3*tcs + 5, 100, exitFail},
		{2 * tcs, tcs, exitOK},
		{2*tcs + 100, tcs, exitFail},
	} {
		code, out, errOut := runCmd(t, "cat", "-off", strconv.FormatInt(tc.off, 10), "-n", strconv.FormatInt(tc.n, 10), dir)
		if !bytes.Equal([]byte(out), wantBytes[tc.off:tc.off+tc.n]) {
			t.Errorf("cat -off %d -n %d printed %d bytes, not the %d the chunk files hold there", tc.off, tc.n, len(out), tc.n)
		}
		named := strings.Contains(errOut, "which is one file with") && strings.Contains(errOut, "(hard links)")
		if code != tc.wantCode || named != (tc.wantCode == exitFail) {
			t.Errorf("cat -off %d -n %d: exit %d, stderr:\n%s\nwant exit %d, naming the pair exactly when the range touches it", tc.off, tc.n, code, errOut, tc.wantCode)
		}
	}
	checkUnchanged(t, dir, before)
}

// TestRun_ManifestOfTwoNames: a read-write Open refuses a dataset whose
// manifest has another name (as cp -al leaves it: another directory's
// writer may share its records and state page), yet verify said OK and
// info exited 0, while trim, refused, sent the operator to verify "for a
// full report". verify now reports it as a problem with advice, info warns
// with status 3, neither changes the directory, and once the advice is
// followed (a copy renamed over the manifest) verify passes and trim runs.
func TestRun_ManifestOfTwoNames(t *testing.T) {
	dir := newDataset(t)
	other := filepath.Join(t.TempDir(), "linked")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "MANIFEST")
	if err := os.Link(manifest, filepath.Join(other, "MANIFEST")); err != nil {
		t.Skipf("cannot make a hard link here: %v", err)
	}
	before := snapshot(t, dir)
	const what = "MANIFEST has more than one name"

	code, out, errOut := runCmd(t, "verify", dir)
	if code != exitFail || !strings.Contains(out, "FAILED, 1 problem(s)") || !strings.Contains(out, what) || !strings.Contains(out, "rename the copy over MANIFEST") {
		t.Errorf("verify: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and one problem saying %q, with advice", code, out, errOut, exitFail, what)
	}
	code, out, errOut = runCmd(t, "info", dir)
	if code != exitDamaged || !strings.Contains(out, "damage      "+what) || !strings.Contains(errOut, "cannot be opened for writing") {
		t.Errorf("info: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, a damage line saying %q and a warning", code, out, errOut, exitDamaged, what)
	}
	if code, out, errOut := runCmd(t, "trim", dir, "-before", "65536"); code != exitFail {
		t.Errorf("trim: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d: a read-write Open refuses the dataset", code, out, errOut, exitFail)
	}
	checkUnchanged(t, dir, before)

	// The advice: a copy of the manifest under another name in the
	// directory, renamed over it.
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "MANIFEST.copy")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, manifest); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, "verify", dir); code != exitOK {
		t.Errorf("verify after the advice: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "trim", dir, "-before", "65536"); code != exitOK {
		t.Errorf("trim after the advice: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestRun_ManifestOfTwoNamesVersion1: a version 1 manifest with another
// name (a cp -al backup of a v0.1.0 dataset) is no problem: the read-write
// Open that upgrades it writes a new file under the name. verify notes it
// and passes, info exits 0, and trim (which upgrades it) leaves the
// directory a manifest of its own, the other name's file as it was.
func TestRun_ManifestOfTwoNamesVersion1(t *testing.T) {
	dir := newDataset(t)
	manifest := filepath.Join(dir, "MANIFEST")
	v1 := encodeV1(testChunk, testSize)
	if err := os.WriteFile(manifest, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "MANIFEST")
	if err := os.Link(manifest, other); err != nil {
		t.Skipf("cannot make a hard link here: %v", err)
	}
	if code, out, errOut := runCmd(t, "verify", dir); code != exitOK || !strings.Contains(out, "gives this directory a file of its own") {
		t.Errorf("verify: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and a note", code, out, errOut, exitOK)
	}
	if code, out, errOut := runCmd(t, "info", dir); code != exitOK {
		t.Errorf("info: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d", code, out, errOut, exitOK)
	}
	if code, out, errOut := runCmd(t, "trim", dir, "-before", "65536"); code != exitOK {
		t.Errorf("trim: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d", code, out, errOut, exitOK)
	}
	if b, err := os.ReadFile(other); err != nil || !bytes.Equal(b, v1) {
		t.Errorf("the other name's manifest changed (%d bytes, %v)", len(b), err)
	}
	if code, out, errOut := runCmd(t, "verify", dir); code != exitOK {
		t.Errorf("verify after trim: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
