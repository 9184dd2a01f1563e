package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullWriter fails every write, as standard output on a full disk or
// /dev/full does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestRun_OutputLost checks that a command whose standard output cannot be
// written fails with status 1 and says so, as cat, trim and demo do: a
// report that went nowhere (chunkmap verify DIR > report on a full disk)
// is no success, nor "the command did its work" (status 3).
func TestRun_OutputLost(t *testing.T) {
	good := newDataset(t)
	damaged := newDataset(t)
	truncateChunk(t, damaged, 2, 1000)
	tests := []struct {
		name string
		args []string
	}{
		{"help", []string{"help"}},
		{"help of a command", []string{"help", "info"}},
		{"info -h", []string{"info", "-h"}},
		{"version", []string{"version"}},
		{"info", []string{"info", good}},
		{"info of a damaged dataset", []string{"info", damaged}},
		{"verify", []string{"verify", good}},
		{"verify -read", []string{"verify", "-read", good}},
		{"cat", []string{"cat", good}},
		{"cat -hex", []string{"cat", "-hex", good}},
		{"salvage", []string{"salvage", good, filepath.Join(t.TempDir(), "out")}},
		{"salvage of a damaged dataset", []string{"salvage", damaged, filepath.Join(t.TempDir(), "out")}},
		{"salvage -flat", []string{"salvage", "-flat", good, filepath.Join(t.TempDir(), "out")}},
		{"trim", []string{"trim", good, "-before", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tt.args, fullWriter{}, &stderr)
			if code != exitFail {
				t.Errorf("%q with standard output failing: exit status %d, want %d\nstderr:\n%s", tt.args, code, exitFail, stderr.String())
			}
			if !strings.Contains(stderr.String(), syscall.ENOSPC.Error()) {
				t.Errorf("%q with standard output failing: stderr does not name the write error:\n%s", tt.args, stderr.String())
			}
		})
	}
}

// TestRun_CatDamaged_OutputLostOnce checks that cat of a damaged dataset
// whose standard output fails names the write error once: the error of
// the write that failed was joined with the same error again from the
// flush of the buffer it went through, and printed twice.
func TestRun_CatDamaged_OutputLostOnce(t *testing.T) {
	damaged := newDataset(t)
	truncateChunk(t, damaged, 2, 1000)
	var stderr bytes.Buffer
	code := run([]string{"cat", damaged}, fullWriter{}, &stderr)
	if code != exitFail {
		t.Errorf("cat of a damaged dataset with standard output failing: exit status %d, want %d\nstderr:\n%s", code, exitFail, stderr.String())
	}
	if n := strings.Count(stderr.String(), syscall.ENOSPC.Error()); n != 1 {
		t.Errorf("cat of a damaged dataset with standard output failing: stderr names the write error %d times, want once:\n%s", n, stderr.String())
	}
}
