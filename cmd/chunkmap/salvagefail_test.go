package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestRun_Salvage_CreateFails checks salvage whose OUT cannot be created:
// it must fail with status 1 and an error naming OUT, print nothing on
// standard output (a header there reads as the start of a salvage that
// never began), and leave nothing behind.
func TestRun_Salvage_CreateFails(t *testing.T) {
	dir := newDataset(t)
	before := snapshot(t, dir)
	file := filepath.Join(t.TempDir(), "file")
	write(t, file, "mine")
	tests := []struct {
		name string
		args []string
		out  string
	}{
		{"flat OUT in a missing directory", []string{"-flat"}, filepath.Join(t.TempDir(), "none", "out")},
		{"flat OUT under a file", []string{"-flat"}, filepath.Join(file, "out")},
		{"OUT under a file", nil, filepath.Join(file, "out")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			above := filepath.Dir(filepath.Dir(tc.out))
			was := listDir(t, above)
			code, stdout, stderr := runCmd(t, append(append([]string{"salvage"}, tc.args...), dir, tc.out)...)
			if code != exitFail || stdout != "" || !strings.Contains(stderr, tc.out) {
				t.Errorf("exit status %d, stdout %q, stderr %q; want 1, nothing on stdout, and an error naming %s", code, stdout, stderr, tc.out)
			}
			if strings.Contains(stderr, ".tmp") {
				t.Errorf("stderr %q names a temporary file the user never asked for", stderr)
			}
			if now := listDir(t, above); now != was {
				t.Errorf("%s holds %s, want %s, as before", above, now, was)
			}
		})
	}
	checkUnchanged(t, dir, before)
}

// TestSalvage_FailsMidway checks a salvage that fails after it copied part
// of the dataset (chunk 3 refused to this user once the copy reached it,
// or a stop signal then, which used to end the process at once):
// OUT must not be left looking like a whole copy. A dataset OUT grown to
// the full Size before the copy, with zeros where nothing was copied yet,
// opened as a complete salvage; it is removed, and an empty directory
// given as OUT is left empty, as a flat OUT's temporary file is removed.
func TestSalvage_FailsMidway(t *testing.T) {
	dir := newDataset(t)
	before := snapshot(t, dir)
	for _, tc := range []struct {
		name              string
		flat, empty, stop bool
	}{
		{"dataset", false, false, false},
		{"dataset into an empty directory", false, true, false},
		{"flat", true, false, false},
		{"dataset stopped", false, false, true},
		{"dataset into an empty directory stopped", false, true, true},
		{"flat stopped", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			// The mode OUT had, as the platform reports it (Windows shows
			// every directory as 0777), is the mode it must keep.
			var outMode fs.FileMode
			if tc.empty {
				if err := os.Mkdir(out, 0o700); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(out)
				if err != nil {
					t.Fatal(err)
				}
				outMode = fi.Mode()
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			opens := 0
			open := func(path string) (chunkFile, error) {
				if filepath.Base(path) == chunk.Name(3) {
					if opens++; opens > 1 && !tc.stop { // the first is checkAccess's
						return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}
					} else if opens > 1 {
						cancel(errors.New("interrupt signal received"))
					}
				}
				return openChunkFile(path)
			}
			var stdout, stderr bytes.Buffer
			code := salvage(salvageConfig{ctx: ctx, dir: dir, out: out, flat: tc.flat, open: open}, &stdout, &stderr)
			msg, why := stderr.String(), "permission denied"
			if tc.stop {
				why = "stopped: interrupt signal received"
			}
			if code != exitFail || !strings.Contains(msg, why) || strings.Count(msg, out) != 1 || !strings.Contains(msg, "was not written") {
				t.Fatalf("exit status %d, stderr %q; want 1, %q, and that %s was not written, naming it once", code, msg, why, out)
			}
			want := "[]"
			if tc.empty {
				want = "[out]"
			}
			if got := listDir(t, parent); got != want {
				t.Fatalf("OUT's directory holds %s, want %s", got, want)
			}
			if tc.empty {
				fi, err := os.Stat(out)
				if err != nil {
					t.Fatal(err)
				}
				inside, err := os.ReadDir(out)
				if err != nil || len(inside) != 0 || fi.Mode() != outMode {
					t.Errorf("OUT, an empty directory of mode %v before, is now %v with %d entries (%v)", outMode, fi.Mode(), len(inside), err)
				}
			}
			// Nothing is left in the way of a second salvage.
			var out2, err2 bytes.Buffer
			if code := salvage(salvageConfig{dir: dir, out: out, flat: tc.flat}, &out2, &err2); code != exitOK {
				t.Errorf("salvage again: exit status %d, stderr %q", code, err2.String())
			}
		})
	}
	checkUnchanged(t, dir, before)
}

// listDir returns the names in dir, as fmt prints a slice of them.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return fmt.Sprint(names)
}
