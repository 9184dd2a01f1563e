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
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for success
		wantOut string
	}{
		{"-h", []string{"-h"}, "", "Usage: go run ./examples/quickstart"},
		{"-help", []string{"-help"}, "", "-dir directory"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined: -nope (-h prints the flags)", ""},
		{"missing value", []string{"-dir"}, "flag needs an argument: -dir", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var out bytes.Buffer
			err := run(tc.args, &out)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("run(%q) = %v, want error %q", tc.args, err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output does not contain %q:\n%s", tc.wantOut, &out)
			}
			if entries, _ := os.ReadDir(os.Getenv("TMPDIR")); len(entries) != 0 {
				t.Errorf("run(%q) made a dataset", tc.args)
			}
		})
	}
}

// helpEnv makes the child process of TestMain_Help run main with -h.
const helpEnv = "QUICKSTART_HELP_CHILD"

// TestMain_Help runs main with -h in a child process (this test binary
// again) and checks that it prints the usage and exits with status 0.
func TestMain_Help(t *testing.T) {
	if os.Getenv(helpEnv) == "1" {
		os.Args = []string{"quickstart", "-h"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMain_Help$")
	cmd.Env = append(os.Environ(), helpEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("quickstart -h: %v, want exit status 0\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("Usage: go run ./examples/quickstart")) {
		t.Errorf("quickstart -h printed no usage:\n%s", out)
	}
}
