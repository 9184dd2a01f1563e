//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestGrow_FileModeOwnerCannotReopen: a writer whose FileMode leaves the
// owner no write permission (0o444) cannot grow the dataset as a user who
// is not root: every growth fails with ErrIO matching fs.ErrPermission,
// naming the chunk file, and leaves Size and the directory as they were,
// and Sync, Close and the next Open work. Growth succeeded, through the
// descriptor that created the file, and then every Sync and Close failed
// for good ("open chunk file ... to sync it: permission denied"), of this
// Manager and of every later writer of the user's, whose first Sync
// fsyncs every chunk: the writes were never durable.
func TestGrow_FileModeOwnerCannotReopen(t *testing.T) {
	if unpriv.Run(t) {
		return // root opens any file for writing
	}
	for _, tc := range []struct {
		name string
		grow func(m *chunkmap.Manager) error
	}{
		{"WriteAt", func(m *chunkmap.Manager) error { _, err := m.WriteAt([]byte("x"), m.Size()+cs); return err }},
		{"Append", func(m *chunkmap.Manager) error { _, err := m.Append(make([]byte, cs)); return err }},
		{"Grow", func(m *chunkmap.Manager) error { return m.Grow(2 * cs) }},
		{"Truncate", func(m *chunkmap.Manager) error { return m.Truncate(m.Size() + 2*cs) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			datasetAt(t, dir)
			data := pattern(3, cs+100)
			before := names(t, dir)
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, FileMode: 0o444})
			if err != nil {
				t.Fatal(err)
			}
			size := m.Size()
			err = tc.grow(m)
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), filepath.Join(dir, chunk.Name(2))) {
				t.Errorf("%s with FileMode 0o444: %v; want ErrIO and fs.ErrPermission naming %s", tc.name, err, chunk.Name(2))
			}
			if got := m.Size(); got != size {
				t.Errorf("Size = %d after the failed growth, want %d", got, size)
			}
			if err := m.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if after := names(t, dir); !slices.Equal(after, before) {
				t.Errorf("the directory holds %q, held %q", after, before)
			}
			m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAt(t, m, 0, len(data)); !bytes.Equal(got, data) {
				t.Errorf("the data differs at %d", firstDiff(got, data))
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close of the next writer: %v", err)
			}
		})
	}
}

// names returns the names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range entries {
		s = append(s, e.Name())
	}
	return s
}
