package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/exampletest"
)

func TestQuickstart(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out bytes.Buffer
	if err := run(nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	for _, want := range []string{"across the boundary of chunks 0 and 1", "sync:", "append \"event\"", "reopen read-only", "everything survived"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, &out)
		}
	}
	if entries, _ := os.ReadDir(os.Getenv("TMPDIR")); len(entries) != 0 {
		t.Errorf("the example left %d entries in its temporary directory", len(entries))
	}
}

func TestQuickstart_Dir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qs")
	var out bytes.Buffer
	if err := run([]string{"-dir", dir}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	// The dataset stays, with the values across the first chunk boundary
	// and the appended event after them.
	m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got, want := m.Size(), m.ChunkSize()-4+36+int64(len("event")); got != want {
		t.Errorf("Size() = %d, want %d", got, want)
	}
	if got := m.Stats().Chunks; got != 2 {
		t.Errorf("Stats().Chunks = %d, want 2", got)
	}
}

func TestRun_Flags(t *testing.T) {
	exampletest.Flags(t, run, []exampletest.FlagCase{
		{Name: "-h", Args: []string{"-h"}, WantOut: "Usage: go run ./examples/quickstart"},
		{Name: "-help", Args: []string{"-help"}, WantOut: "-dir directory"},
		{Name: "unknown flag", Args: []string{"-nope"}, WantErr: "flag provided but not defined: -nope (-h prints the flags)"},
		{Name: "missing value", Args: []string{"-dir"}, WantErr: "flag needs an argument: -dir"},
		// The flag package stops at the first argument that is no flag:
		// a -dir after it would be ignored.
		{Name: "argument", Args: []string{"extra"}, WantErr: `unexpected argument "extra" (-h prints the flags)`},
	})
}

// TestMain_Help checks that -h prints the usage and exits with status 0.
func TestMain_Help(t *testing.T) {
	exampletest.Help(t, "quickstart", main, "Usage: go run ./examples/quickstart")
}

// TestMain_ClosedOutput checks that a closed standard output (quickstart |
// true) makes the example exit quietly with status 1 after removing its
// temporary directory, where SIGPIPE used to kill it at its first write
// and leave the directory behind.
func TestMain_ClosedOutput(t *testing.T) {
	exampletest.ClosedOutput(t, "quickstart", main, nil)
}
