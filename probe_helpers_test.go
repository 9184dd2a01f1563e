package chunkmap_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// probeWantErr fails unless err matches want and its message starts with
// the operation op.
func probeWantErr(t *testing.T, err, want error, op, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
		return
	}
	if err != io.EOF && !strings.HasPrefix(err.Error(), op+" ") {
		t.Errorf("%s: error %q does not start with the operation %q", what, err, op)
	}
}

// probeListDir returns the names in dir, sorted.
func probeListDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// probeFDsUnder returns the files below dir that the process holds open,
// and false where /proc is missing.
func probeFDsUnder(dir string) ([]string, bool) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, false
	}
	var open []string
	for _, e := range entries {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, dir+string(filepath.Separator)) {
			open = append(open, p)
		}
	}
	return open, true
}

// probeOpenFDs returns how many descriptors the process has open, or -1
// where /proc is missing.
func probeOpenFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}
