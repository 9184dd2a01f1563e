package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// patchManifest writes each patch over dir's manifest at its offset.
func patchManifest(t *testing.T, dir string, patches map[int64][]byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off, b := range patches {
		if _, err := f.WriteAt(b, off); err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// otherBoot is the patch that makes a manifest's state page another
// boot's, as after a restart of the machine, so that its records count.
func otherBoot() (int64, []byte) { return 2048 + 8, []byte("another boot") }

// blankRecordDataset makes a dataset of 5 chunks whose newest record (seq
// 4, in record A at offset 0) holds Size 5*tcs and whose older one (seq 3,
// record B) 2*tcs, with a state page of another boot, so that the records
// count; then zeros record A, as a block zeroed by the device or a repair
// would. It returns the directory and the bytes written.
func blankRecordDataset(t *testing.T) (string, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: tcs})
	if err != nil {
		t.Fatal(err)
	}
	b := want(0, 5*tcs, nil)
	for _, end := range []int64{tcs, 2 * tcs, 5 * tcs} { // Syncs write seq 2, 3, and Close seq 4
		if _, err := m.Append(b[m.Size():end]); err != nil {
			t.Fatal(err)
		}
		if end < 5*tcs {
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	boot, page := otherBoot()
	patchManifest(t, dir, map[int64][]byte{boot: page, 0: make([]byte, 64)})
	return dir, b
}

// TestRun_Salvage_ZeroedRecordWidens checks that salvage takes a record of
// zeros beside one of seq 3 for damage, not for a record never written: it
// held seq 2 or 4, maybe the newer, so Size runs on over the chunk files
// present and no synced byte is left behind. (Only beside seq 1, a new
// manifest's one record, are zeros a record no Sync wrote.)
func TestRun_Salvage_ZeroedRecordWidens(t *testing.T) {
	dir, b := blankRecordDataset(t)
	before := snapshot(t, dir)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, "salvage", "-flat", dir, out)
	checkUnchanged(t, dir, before)
	if code != exitDamaged || !strings.Contains(stdout, "widened from size 131072 to the end of the last chunk file") {
		t.Fatalf("exit status %d, want %d, and Size widened over the chunk files\nstdout:\n%s\nstderr:\n%s", code, exitDamaged, stdout, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b) {
		t.Errorf("salvaged %d bytes, want the %d that Close acknowledged", len(got), len(b))
	}
	code, stdout, _ = runCmd(t, "verify", dir)
	if !strings.Contains(stdout, "record A is damaged") {
		t.Errorf("verify (exit %d) does not note the zeroed record A:\n%s", code, stdout)
	}
}

// TestRun_Verify_NewManifestNotDamaged checks that the one record a new
// dataset's manifest has, before any Sync, is not reported as damage: its
// other record, all zeros, was never written.
func TestRun_Verify_NewManifestNotDamaged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: tcs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append([]byte("not synced")); err != nil {
		t.Fatal(err)
	}
	// The writer is still open: as while it runs, or after it was killed.
	for _, cmd := range []string{"verify", "info"} {
		code, stdout, stderr := runCmd(t, cmd, dir)
		if code != exitOK || strings.Contains(stdout+stderr, "damaged") {
			t.Errorf("%s: exit status %d, want %d and no damage\nstdout:\n%s\nstderr:\n%s", cmd, code, exitOK, stdout, stderr)
		}
	}
}

// TestRun_Salvage_ZeroedFirstSyncRecord checks the case the old rule for
// zeros beside seq 1 got wrong: a dataset closed once (Close wrote record
// 2, in record A, with the whole Size) whose record A is then zeroed. Record
// B, seq 1, holds the Size at creation, 0; zeros beside it were taken for
// a record never written (as a new manifest's record A was, before new
// manifests held their record in both places), so salvage copied nothing
// and said "nothing lost". It now takes them for damage and widens over
// the chunk files, copying every byte Close acknowledged.
func TestRun_Salvage_ZeroedFirstSyncRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: tcs})
	if err != nil {
		t.Fatal(err)
	}
	b := want(0, 3*tcs, nil)
	if _, err := m.Append(b); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The state page of another boot, so that the records count; then
	// record A zeroed.
	boot, page := otherBoot()
	patchManifest(t, dir, map[int64][]byte{boot: page, 0: make([]byte, 64)})
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, "salvage", "-flat", dir, out)
	if code != exitDamaged || !strings.Contains(stdout, "widened from size 0 to the end of the last chunk file") {
		t.Fatalf("exit status %d, want %d, and Size widened over the chunk files\nstdout:\n%s\nstderr:\n%s", code, exitDamaged, stdout, stderr)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, b) {
		t.Errorf("salvaged %d bytes (%v), want the %d that Close acknowledged", len(got), err, len(b))
	}
	if code, stdout, _ := runCmd(t, "verify", dir); !strings.Contains(stdout, "record A is damaged") {
		t.Errorf("verify (exit %d) does not note the zeroed record A:\n%s", code, stdout)
	}
}
