//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestRun_Salvage_ClosedOutput checks salvage whose standard output is a
// pipe with no reader (chunkmap salvage DIR OUT | true): its header's
// write fails, but a closed output is no reason to throw away the copy
// (see runSalvage), so salvage must finish it, OUT must hold every byte,
// and the error must be the output's (exit status 1, as for any report
// that could not be written). The stop signals salvage watches included SIGPIPE, which a write
// to the closed pipe raises: salvage stopped at its next buffer and
// removed OUT ("stopped: broken pipe signal received").
func TestRun_Salvage_ClosedOutput(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ds")
	// 16 buffers of the copy (1 MiB each): a stop has time to be seen.
	const size = 16 << 20
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	for i := range want {
		want[i] = pattern(int64(i))
	}
	if _, err := m.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	cmd, stdout, stderr := startHelper(t, tmp, "salvage", dir, out)
	stdout.Close() // as in chunkmap salvage DIR OUT | true
	// The report could not be written, which fails the command (see
	// run), but the copy is made.
	code := waitHelper(t, cmd)
	if msg := stderr.String(); code != exitFail || !strings.Contains(msg, "write standard output") || strings.Contains(msg, "stopped") {
		t.Errorf("exit status %d, stderr %q; want %d and that standard output could not be written, not that salvage stopped", code, msg, exitFail)
	}
	r, err := chunkmap.Open(out, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("OUT after a salvage into a closed output: %v", err)
	}
	defer r.Close()
	got := make([]byte, size)
	if n, err := r.ReadAt(got, 0); err != nil || r.Size() != size || !bytes.Equal(got, want) {
		t.Errorf("OUT: Size %d, ReadAt %d, %v, or the bytes differ; want all %d bytes of DIR", r.Size(), n, err, size)
	}
}

// TestRun_Salvage_ClosedOutputAndError is TestRun_Salvage_ClosedOutput
// with standard error the same closed pipe (chunkmap salvage DIR OUT 2>&1 |
// true): salvage must make the copy and exit with status 1, as it does with
// only standard output closed. It released its hold on SIGPIPE before run
// reported the failed output on standard error, and that write ended the
// process with SIGPIPE (status 141 in the shell).
func TestRun_Salvage_ClosedOutputAndError(t *testing.T) {
	dir := newDataset(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // no reader, from the start
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join([]string{"salvage", dir, out}, "\n"), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if code := waitHelper(t, cmd); code != exitFail {
		t.Errorf("exit status %d, want %d", code, exitFail)
	}
	// The copy is made (checkWholeSalvage checks more, on Linux).
	if code, stdout, stderr := runCmd(t, "verify", out); code != exitOK {
		t.Errorf("verify %s: exit status %d\n%s%s", out, code, stdout, stderr)
	}
}
