//go:build unix

package main

import (
	"bytes"
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
