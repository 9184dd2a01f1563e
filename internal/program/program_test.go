package program

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap/internal/stop"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantHelp bool
		wantErr  string // "" for none
		wantOut  string // in w
	}{
		{name: "none", args: nil},
		{name: "flag", args: []string{"-n", "3"}},
		{name: "help", args: []string{"-h"}, wantHelp: true, wantOut: "Usage: go run ./examples/x [flags]"},
		{name: "unknown", args: []string{"-z"}, wantErr: "flag provided but not defined: -z (-h prints the flags)"},
		{name: "bad value", args: []string{"-n", "many"}, wantErr: "(-h prints the flags)"},
		{name: "argument", args: []string{"-n", "3", "left", "-n", "4"}, wantErr: `unexpected argument "left"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Flags("x")
			n := fs.Int("n", 1, "a `count`")
			var w bytes.Buffer
			help, err := Parse(fs, tt.args, &w)
			if help != tt.wantHelp {
				t.Errorf("help = %v, want %v", help, tt.wantHelp)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(w.String(), tt.wantOut) || tt.wantOut == "" && w.Len() > 0 {
				t.Errorf("output %q, want %q", w.String(), tt.wantOut)
			}
			if tt.name == "flag" && *n != 3 {
				t.Errorf("-n = %d, want 3", *n)
			}
		})
	}
}

func TestWork_TemporaryDirectoryIsRemoved(t *testing.T) {
	var used string
	workErr := errors.New("work failed")
	for _, want := range []error{nil, workErr} {
		err := Work(new(bytes.Buffer), "", "programtest", Empty, func(dir string, st *stop.Stopper) error {
			used = dir
			if !strings.HasPrefix(filepath.Base(dir), "chunkmap-programtest-") {
				t.Errorf("temporary directory %s, want one named after the program", dir)
			}
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return want
		})
		if !errors.Is(err, want) || want == nil && err != nil {
			t.Errorf("Work = %v, want %v", err, want)
		}
		if _, err := os.Stat(used); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Work returned %v, its temporary directory: %v, want it removed", want, err)
		}
	}
}

func TestWork_NamedDirectory(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		empty   bool
		wantRun bool
	}{
		{"empty asked, empty given", t.TempDir(), Empty, true},
		{"empty asked, missing given", filepath.Join(t.TempDir(), "new"), Empty, true},
		{"empty asked, full given", full, Empty, false},
		{"any asked, full given", full, Any, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			err := Work(new(bytes.Buffer), tt.dir, "programtest", tt.empty, func(dir string, st *stop.Stopper) error {
				ran = dir == tt.dir
				return nil
			})
			if ran != tt.wantRun {
				t.Errorf("work ran in %s: %v, want %v", tt.dir, ran, tt.wantRun)
			}
			if tt.wantRun && err != nil || !tt.wantRun && (err == nil || !strings.Contains(err.Error(), "-dir "+tt.dir+" is not empty")) {
				t.Errorf("Work = %v", err)
			}
			if _, err := os.Stat(filepath.Join(full, "old")); err != nil {
				t.Errorf("the named directory's file: %v, want it kept", err)
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFull }

var errFull = errors.New("no space left on device")

// TestParse_HelpUnwritten checks that -h whose usage cannot be written (a
// full disk, a closed pipe) is an error, so the program does not exit 0
// having printed nothing.
func TestParse_HelpUnwritten(t *testing.T) {
	fs := Flags("x")
	fs.Int("n", 1, "a `count`")
	help, err := Parse(fs, []string{"-h"}, failWriter{})
	if !help || !errors.Is(err, errFull) {
		t.Fatalf("Parse(-h) to a failing writer = %v, %v; want true and an error wrapping %v", help, err, errFull)
	}
}
