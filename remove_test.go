package chunkmap_test

// Tests of Remove: what it deletes and what it leaves, its refusals, and
// datasets that an earlier Remove left half removed.

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// isDatasetName reports whether a snapshot entry (a path relative to the
// dataset directory) is one Remove deletes: the manifest, a chunk file, or a
// temporary file of either, directly in the directory.
func isDatasetName(rel string) bool {
	if strings.ContainsRune(rel, filepath.Separator) {
		return false
	}
	_, isChunk := chunk.ParseName(rel)
	return isChunk || chunk.IsTemp(rel) || rel == chunkmap.ManifestName || rel == chunkmap.ManifestName+".tmp" ||
		(platformLockFile != "" && rel == platformLockFile)
}

// writeFile creates the file dir/name holding data, and its parents.
func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// removeFiles removes dir/name for each name.
func removeFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// wantRemoveErr checks that err, returned by Remove(dir), matches target
// and names the operation and dir once.
func wantRemoveErr(t *testing.T, dir string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("Remove(%s) = %v, want an error matching %v", dir, err, target)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "remove "+dir+": ") || strings.Count(msg, dir) != 1 {
		t.Errorf("Remove error %q does not name the operation and %s once at its start", msg, dir)
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // on a dataset of chunks 0 to 3
	}{
		{"dataset", func(*testing.T, string) {}},
		{"temporary files", func(t *testing.T, dir string) {
			writeFile(t, dir, chunkmap.ManifestName+".tmp", "half a manifest")
			writeFile(t, dir, chunk.Name(4)+".tmp", "half a chunk")
		}},
		{"unknown files stay", func(t *testing.T, dir string) {
			writeFile(t, dir, "notes.txt", "mine")
			writeFile(t, dir, chunkmap.ManifestName+".bak", "a copy")
			writeFile(t, dir, "2a.chunk", "not a chunk name")
			writeFile(t, dir, chunk.Name(5)+".old", "not a chunk name either")
			writeFile(t, dir, filepath.Join("sub", chunk.Name(0)), "not in the dataset directory")
		}},
		{"spare chunks", func(t *testing.T, dir string) {
			m, err := chunkmap.Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Grow(3 * cs); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"half removed: chunks without manifest", func(t *testing.T, dir string) {
			removeFiles(t, dir, chunkmap.ManifestName)
		}},
		{"half removed: a prefix of the chunks", func(t *testing.T, dir string) {
			removeFiles(t, dir, chunk.Name(3), chunk.Name(2))
		}},
		{"half removed: manifest without chunks", func(t *testing.T, dir string) {
			removeFiles(t, dir, chunk.Name(3), chunk.Name(2), chunk.Name(1), chunk.Name(0))
		}},
		{"half removed: manifest without chunks, its records garbled", func(t *testing.T, dir string) {
			removeFiles(t, dir, chunk.Name(3), chunk.Name(2), chunk.Name(1), chunk.Name(0))
			// Only its magic says it is a manifest.
			path := filepath.Join(dir, chunkmap.ManifestName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := 8; i < len(b); i++ {
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		// A new manifest holds record 1 only, at offset 512: its first
		// bytes are zeros until a second record is written there.
		{"empty dataset, never written", func(t *testing.T, dir string) {
			removeFiles(t, dir, chunk.Name(3), chunk.Name(2), chunk.Name(1), chunk.Name(0), chunkmap.ManifestName)
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"half removed: manifest without chunks, its first record torn", func(t *testing.T, dir string) {
			removeFiles(t, dir, chunk.Name(3), chunk.Name(2), chunk.Name(1), chunk.Name(0))
			// The record at offset 0 torn by a crash while it was
			// written; the one at 512 stays whole, and Open reads it.
			f, err := os.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 64), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"manifest with chunks, its magic garbled", func(t *testing.T, dir string) {
			// Chunk files make it a damaged dataset, whatever its
			// manifest holds: Remove deletes it.
			writeFile(t, dir, chunkmap.ManifestName, "garbled")
		}},
		{"half removed: temporary file only", func(t *testing.T, dir string) {
			removeFiles(t, dir, chunk.Name(3), chunk.Name(2), chunk.Name(1), chunk.Name(0), chunkmap.ManifestName)
			writeFile(t, dir, chunkmap.ManifestName+".tmp", "")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := buildDataset(t)
			tc.setup(t, dir)
			before := snapshot(t, dir)
			want := make(map[string]string)
			for rel, v := range before {
				if !isDatasetName(rel) {
					want[rel] = v
				}
			}
			if err := chunkmap.Remove(dir); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if len(want) == 1 { // only the directory itself
				if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("after Remove, Lstat(%s) = %v, want the directory removed", dir, err)
				}
				return
			}
			wantSameSnapshot(t, want, snapshot(t, dir))
		})
	}
}

func TestRemove_Errors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, parent string) (dir string)
		wantErr error
	}{
		{"missing directory", func(t *testing.T, parent string) string {
			return filepath.Join(parent, "missing")
		}, fs.ErrNotExist},
		{"missing parent", func(t *testing.T, parent string) string {
			return filepath.Join(parent, "missing", "deeper")
		}, fs.ErrNotExist},
		{"empty directory", func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "empty")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, fs.ErrNotExist},
		{"unknown files only", func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "other")
			writeFile(t, dir, "notes.txt", "mine")
			writeFile(t, dir, filepath.Join("sub", chunkmap.ManifestName), "not in the dataset directory")
			return dir
		}, fs.ErrNotExist},
		{"regular file", func(t *testing.T, parent string) string {
			writeFile(t, parent, "file", "not a directory")
			return filepath.Join(parent, "file")
		}, chunkmap.ErrCorrupt},
		{"directory under a chunk name", func(t *testing.T, parent string) string {
			dir := datasetIn(t, parent)
			if err := os.Mkdir(filepath.Join(dir, chunk.Name(9)), 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, chunkmap.ErrCorrupt},
		{"directory under the manifest's temporary name", func(t *testing.T, parent string) string {
			dir := datasetIn(t, parent)
			if err := os.Mkdir(filepath.Join(dir, chunkmap.ManifestName+".tmp"), 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, chunkmap.ErrCorrupt},
		// Alone, a file under the manifest's name that is not a
		// chunkmap manifest (a Python package's MANIFEST, say) is
		// another program's: Remove called on the wrong directory must
		// not delete it.
		{"another program's MANIFEST", func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "project")
			writeFile(t, dir, chunkmap.ManifestName, "include README.md\nrecursive-include src *.py\n")
			writeFile(t, dir, "setup.py", "from setuptools import setup\n")
			return dir
		}, chunkmap.ErrCorrupt},
		{"another program's MANIFEST of a manifest's length", func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "project")
			writeFile(t, dir, chunkmap.ManifestName, strings.Repeat("include *.txt\n", 4096/14+1)[:4096])
			return dir
		}, chunkmap.ErrCorrupt},
		{"empty file under the manifest's name", func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "project")
			writeFile(t, dir, chunkmap.ManifestName, "")
			return dir
		}, chunkmap.ErrCorrupt},
		{"short file under the manifest's name", func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "project")
			writeFile(t, dir, chunkmap.ManifestName, "CHUNKMA")
			return dir
		}, chunkmap.ErrCorrupt},
		{"directory under the manifest's name", func(t *testing.T, parent string) string {
			dir := datasetIn(t, parent)
			removeFiles(t, dir, chunkmap.ManifestName)
			if err := os.Mkdir(filepath.Join(dir, chunkmap.ManifestName), 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, chunkmap.ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := tc.setup(t, parent)
			before := snapshot(t, parent)
			err := chunkmap.Remove(dir)
			wantRemoveErr(t, dir, err, tc.wantErr)
			wantSameSnapshot(t, before, snapshot(t, parent))
		})
	}
}

// datasetIn makes a dataset of two chunks in parent/dataset.
func datasetIn(t *testing.T, parent string) string {
	t.Helper()
	dir := filepath.Join(parent, "dataset")
	datasetAt(t, dir)
	return dir
}

// datasetAt makes a closed dataset of two chunks in directory dir.
func datasetAt(t *testing.T, dir string) {
	t.Helper()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, m, pattern(3, cs+100), 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRemove_ErrLocked removes a dataset that a writer of this process has
// open: Remove fails and changes nothing, and succeeds once it is closed.
// (remove_unix_test.go has the writer in another process.)
func TestRemove_ErrLocked(t *testing.T) {
	dir, data := buildDataset(t)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	wantRemoveErr(t, dir, chunkmap.Remove(dir), chunkmap.ErrLocked)
	wantSameSnapshot(t, before, snapshot(t, dir))
	if got := readAt(t, m, 0, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("after the refused Remove, the data differs at %d", firstDiff(got, data))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// ReadOnly Managers take no lock and do not stop Remove.
	if runtime.GOOS == "windows" {
		t.Skip("Windows deletes no file another Manager has open or mapped, a reader's MANIFEST included (README, Platforms)")
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := chunkmap.Remove(dir); err != nil {
		t.Fatalf("Remove after the writer closed, with a reader open: %v", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Remove, Lstat(%s) = %v, want the directory removed", dir, err)
	}
}

// TestRemove_ThenOpen checks that what Remove leaves opens as a new, empty
// dataset, with a chunk size of its own.
func TestRemove_ThenOpen(t *testing.T) {
	for _, keep := range []bool{false, true} {
		name := "directory removed"
		if keep {
			name = "directory kept"
		}
		t.Run(name, func(t *testing.T) {
			dir, _ := buildDataset(t)
			if keep {
				writeFile(t, dir, "notes.txt", "mine")
			}
			if err := chunkmap.Remove(dir); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: 2 * cs})
			if m.Size() != 0 || m.Start() != 0 || m.ChunkSize() != 2*cs || m.Stats().Chunks != 0 {
				t.Errorf("Open after Remove: Start %d, Size %d, ChunkSize %d, %d chunks, want 0, 0, %d, 0",
					m.Start(), m.Size(), m.ChunkSize(), m.Stats().Chunks, 2*cs)
			}
			if keep {
				if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "mine" {
					t.Errorf("notes.txt = %q, %v, want %q", b, err, "mine")
				}
			}
		})
	}
}
