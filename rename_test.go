package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// renameData returns the bytes renameDataset writes for tag: three chunks
// and a bit, each byte telling the dataset by tag.
func renameData(tag byte) []byte {
	return bytes.Repeat([]byte{tag}, 3*clxChunk+100)
}

// renameDataset makes a closed dataset of renameData(tag) in dir.
func renameDataset(t *testing.T, dir string, tag byte) {
	t.Helper()
	m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: clxChunk})
	if _, err := m.Append(renameData(tag)); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// wantRenamed checks that dir holds the dataset renameDataset made with
// tag, whole.
func wantRenamed(t *testing.T, dir string, tag byte) {
	t.Helper()
	m := clxOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	defer m.Close()
	want := renameData(tag)
	got := make([]byte, len(want))
	if m.Size() != int64(len(want)) {
		t.Fatalf("%s: Size %d, want %d", dir, m.Size(), len(want))
	}
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s does not hold dataset %q", dir, tag)
	}
}

// wantGone checks that nothing stands under path.
func wantGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s is still there (%v)", path, err)
	}
}

// wantOnly checks that dir holds exactly the entries names.
func wantOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
}

func TestRename_Moves(t *testing.T) {
	tests := []struct {
		name string
		to   func(t *testing.T, parent string) string // makes what stands under to
	}{
		{"to a new name", func(t *testing.T, parent string) string { return filepath.Join(parent, "b") }},
		{"to a new name in another directory", func(t *testing.T, parent string) string {
			if err := os.Mkdir(filepath.Join(parent, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(parent, "sub", "b")
		}},
		{"over an empty directory", func(t *testing.T, parent string) string {
			to := filepath.Join(parent, "b")
			if err := os.Mkdir(to, 0o755); err != nil {
				t.Fatal(err)
			}
			return to
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			from := filepath.Join(parent, "a")
			renameDataset(t, from, 'A')
			to := tc.to(t, parent)
			if err := chunkmap.Rename(from, to); err != nil {
				t.Fatal(err)
			}
			wantGone(t, from)
			wantRenamed(t, to, 'A')
			// A writer opens it under its new name and goes on.
			m := clxOpen(t, to, nil)
			if _, err := m.Append([]byte("more")); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRename_Refused(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, from, to string) // from holds dataset 'A' unless setup removes it
		target []error
		inside bool // to names a directory in from
	}{
		{"from missing", func(t *testing.T, from, to string) {
			if err := chunkmap.Remove(from); err != nil {
				t.Fatal(err)
			}
		}, []error{fs.ErrNotExist}, false},
		{"from an empty directory", func(t *testing.T, from, to string) {
			if err := chunkmap.Remove(from); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(from, 0o755); err != nil {
				t.Fatal(err)
			}
		}, []error{fs.ErrNotExist}, false},
		{"from a regular file", func(t *testing.T, from, to string) {
			if err := chunkmap.Remove(from); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(from, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []error{chunkmap.ErrCorrupt}, false},
		{"to a regular file", func(t *testing.T, from, to string) {
			if err := os.WriteFile(to, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []error{chunkmap.ErrCorrupt, fs.ErrExist}, false},
		{"to a directory of another program's files", func(t *testing.T, from, to string) {
			if err := os.Mkdir(to, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(to, "notes.txt"), []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []error{chunkmap.ErrCorrupt, fs.ErrExist}, false},
		{"empty names", nil, []error{chunkmap.ErrInvalidOptions}, false},
		{"to inside from", func(t *testing.T, from, to string) {}, []error{chunkmap.ErrIO}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
			renameDataset(t, from, 'A')
			switch {
			case tc.setup == nil:
				from, to = "", ""
			case tc.inside:
				to = filepath.Join(from, "inner")
			default:
				tc.setup(t, from, to)
			}
			before := snapshot(t, parent)
			err := chunkmap.Rename(from, to)
			for _, target := range tc.target {
				if !errors.Is(err, target) {
					t.Errorf("Rename = %v, want an error matching %v", err, target)
				}
			}
			if err != nil && !strings.HasPrefix(err.Error(), "rename "+from+" to "+to+": ") {
				t.Errorf("Rename error %q does not begin with the operation and both names", err)
			}
			if after := snapshot(t, parent); !maps.Equal(after, before) {
				t.Errorf("a refused Rename changed the files under %s", parent)
			}
		})
	}
}

func TestRename_Itself(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a")
	renameDataset(t, dir, 'A')
	if err := chunkmap.Rename(dir, dir+string(filepath.Separator)); err != nil {
		t.Fatal(err)
	}
	wantRenamed(t, dir, 'A')
}
