package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlatSink_WriteErrorNamesOffset checks that a write of a flat copy
// that fails (a full disk) names the offset it failed at: the error was
// os.File's alone, "write OUT.salvage-N.tmp: no space left on device",
// which did not say where.
func TestFlatSink_WriteErrorNamesOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.salvage-1.tmp")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) // read-only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl := &flatSink{f: f, out: "out", base: 2 * testChunk}
	err = fl.write(make([]byte, 100), 2*testChunk+1000)
	if err == nil {
		t.Fatal("a write to a read-only file succeeded")
	}
	for _, want := range []string{path, "100 bytes at offset 1000 (dataset offset 132072)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error of a failed write does not say %q: %v", want, err)
		}
	}
	if strings.Count(err.Error(), path) != 1 {
		t.Errorf("the error of a failed write names the file more than once: %v", err)
	}
}
