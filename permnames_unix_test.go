//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestPermission_ErrorsNameEachPathOnce: where permission is refused
// (as a user who is not root), Open, a ReadOnly Open and Remove fail with
// ErrIO and fs.ErrPermission, the message names the dataset and the file
// refused once each, change nothing, and the dataset works once the
// mode is given back. A ReadOnly Open of a directory that may be read but
// not searched (0o644) said "open DIR: chunkmap: I/O error: open DIR/.:
// permission denied", and Remove "remove DIR: ...: open DIR: permission
// denied"; an Open that could not create the manifest in an existing
// directory named it three times ("write manifest DIR/MANIFEST: open
// DIR/MANIFEST.tmp: ...").
func TestPermission_ErrorsNameEachPathOnce(t *testing.T) {
	if unpriv.Run(t) {
		return // root may do anything
	}
	type op struct {
		name string
		run  func(dir string) error
	}
	openW := op{"Open", func(dir string) error {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
		if err == nil {
			m.Close()
		}
		return err
	}}
	openR := op{"ReadOnly Open", func(dir string) error {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err == nil {
			m.Close()
		}
		return err
	}}
	remove := op{"Remove", chunkmap.Remove}
	for _, tc := range []struct {
		name     string
		empty    bool        // an empty directory, not a dataset
		dirMode  os.FileMode // of the dataset's directory; 0: its parent is made 0o600
		fileMode os.FileMode // of its files; 0: as made
		ops      []op
	}{
		{"dir 0o644", false, 0o644, 0, []op{openW, openR, remove}},
		{"dir 0o311", false, 0o311, 0, []op{openW, openR, remove}},
		{"dir 0o555 files 0o444", false, 0o555, 0o444, []op{openW, remove}},
		{"empty dir 0o555", true, 0o555, 0, []op{openW}},
		{"parent 0o600", false, 0, 0, []op{openW, openR, remove}},
	} {
		for _, o := range tc.ops {
			t.Run(tc.name+"/"+o.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "ds")
				var data []byte
				if tc.empty {
					if err := os.Mkdir(dir, 0o755); err != nil {
						t.Fatal(err)
					}
				} else {
					datasetAt(t, dir)
					data = pattern(3, cs+100)
				}
				before := snapshot(t, dir)
				var files []string
				if tc.fileMode != 0 {
					entries, err := os.ReadDir(dir)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range entries {
						files = append(files, filepath.Join(dir, e.Name()))
						if err := os.Chmod(files[len(files)-1], tc.fileMode); err != nil {
							t.Fatal(err)
						}
					}
				}
				chmodded, mode := dir, tc.dirMode
				if mode == 0 {
					chmodded, mode = filepath.Dir(dir), 0o600
				}
				if err := os.Chmod(chmodded, mode); err != nil {
					t.Fatal(err)
				}
				err := o.run(dir)
				if err := os.Chmod(chmodded, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range files {
					if err := os.Chmod(f, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) {
					t.Fatalf("%s: %v; want ErrIO and fs.ErrPermission", o.name, err)
				}
				wantEachPathOnce(t, err, dir)
				// The refused operation is named: "mkdir: permission
				// denied", not "permission denied".
				if msg := err.Error(); strings.HasSuffix(msg, "I/O error: permission denied") {
					t.Errorf("%s: %q does not name the operation refused", o.name, msg)
				}
				wantSameSnapshot(t, before, snapshot(t, dir))
				if tc.empty {
					return
				}
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
				if err != nil {
					t.Fatalf("Open once the mode is given back: %v", err)
				}
				if got := readAt(t, m, 0, len(data)); !bytes.Equal(got, data) {
					t.Errorf("the data differs at %d", firstDiff(got, data))
				}
				if err := m.Close(); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// wantEachPathOnce fails t unless err's message names dir and no path
// (a word that begins with dir) twice, nor dir with a "/." added.
func wantEachPathOnce(t *testing.T, err error, dir string) {
	t.Helper()
	msg := err.Error()
	seen := map[string]bool{}
	for _, w := range strings.Fields(msg) {
		w = strings.TrimSuffix(w, ":")
		if !strings.HasPrefix(w, dir) {
			continue
		}
		if seen[w] || strings.HasSuffix(w, string(filepath.Separator)+".") {
			t.Errorf("%q names %s twice, or oddly", msg, w)
		}
		seen[w] = true
	}
	if !seen[dir] {
		t.Errorf("%q does not name %s", msg, dir)
	}
}
