package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestDamagedPage_FilesPastSize: a writer syncs two chunks, writes four
// more, and is still running (or killed: the files are the same) when
// another program writes over its state page's magic. The page held the
// Size that a crash of the process keeps; the records hold the last
// Sync's. verify said "OK" and that the four chunk files past the
// record's Size "hold no data", info and cat said nothing, salvage copied
// two chunks and said nothing was lost, and a read-write Open deleted the
// four files. Now verify reports one problem and advises salvage, info
// reports damage (status 3), cat warns (status 1), salvage copies every
// chunk file (status 3: Size came from the files), a read-write Open
// refuses, and nothing changes the directory.
func TestDamagedPage_FilesPastSize(t *testing.T) {
	const synced = 2*testChunk - 10
	dir, m, b := writtenPastSync(t, synced)
	t.Cleanup(func() {
		// The page was written over under it: Close writes it anew and
		// syncs, or reports why it could not; the checks are done.
		_ = m.Close()
	})
	path := filepath.Join(dir, chunkmap.ManifestName)
	mf, err := os.ReadFile(path)
	must(t, err)
	copy(mf[2048:], "XXXXXXXX")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt(mf[2048:2056], 2048)
	must(t, errors.Join(err, f.Close()))
	before := snapshot(t, dir)

	out := verifyOneProblem(t, dir, "state page is damaged")
	for _, want := range []string{"4 chunk files", "past Size", "chunkmap salvage", "refuses"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify: want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hold no data") {
		t.Errorf("verify says the files hold no data:\n%s", out)
	}
	if code, out, errOut := runCmd(t, "info", dir); code != exitDamaged || !strings.Contains(out, "state page is damaged") {
		t.Errorf("info: exit %d, want %d and a damage line:\n%s%s", code, exitDamaged, out, errOut)
	}
	if code, out, errOut := runCmd(t, "cat", dir); code != exitFail || out != string(b[:synced]) || !strings.Contains(errOut, "state page is damaged") {
		t.Errorf("cat: exit %d, %d bytes, want %d, the %d bytes the record covers, and a warning:\n%s", code, len(out), exitFail, synced, errOut)
	}
	flat := filepath.Join(t.TempDir(), "flat")
	code, sout, serr := runCmd(t, "salvage", "-flat", dir, flat)
	got, err := os.ReadFile(flat)
	if code != exitDamaged || err != nil || len(got) < testSize || !bytes.Equal(got[:testSize], b) {
		t.Errorf("salvage -flat: exit %d (want %d), %d bytes (%v), want the %d bytes written:\n%s%s", code, exitDamaged, len(got), err, testSize, sout, serr)
	}
	checkUnchanged(t, dir, before)
}

// TestDamagedPage_NothingPastSize: a state page written over where no
// chunk file lies past the record's Size loses nothing (a read-write Open
// writes the page anew): verify passes, with a note that names the damage,
// and a read-write Open works.
func TestDamagedPage_NothingPastSize(t *testing.T) {
	dir := newDataset(t)
	path := filepath.Join(dir, chunkmap.ManifestName)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("XXXXXXXX"), 2048)
	must(t, errors.Join(err, f.Close()))
	code, out, errOut := runCmd(t, "verify", dir)
	if code != exitOK || !strings.Contains(out, "note: the manifest's state page is damaged") {
		t.Errorf("verify: exit %d, want %d and a note of the damaged page:\n%s%s", code, exitOK, out, errOut)
	}
	m, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatalf("read-write Open: %v", err)
	}
	if m.Size() != testSize {
		t.Errorf("Size %d, want %d", m.Size(), testSize)
	}
	must(t, m.Close())
	if code, out, errOut := runCmd(t, "verify", dir); code != exitOK || strings.Contains(out, "state page") {
		t.Errorf("verify after a writer's Open and Close: exit %d, want %d and no word of the page:\n%s%s", code, exitOK, out, errOut)
	}
}
