//go:build unix

package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestOpen_ChunkFilesThatAreOneFile: two chunk names that are hard links
// to one file opened as two chunks, so a store to one chunk changed the
// other's bytes (a write at 0 read back at ChunkSize). Open refuses such
// a dataset with ErrCorrupt naming both files, for writing, for reading,
// and following a live writer; and leaves the directory as it was. A
// chunk file whose other name lies outside the dataset opens (a store
// through the Manager changes what that name holds, as the README says).
func TestOpen_ChunkFilesThatAreOneFile(t *testing.T) {
	link := func(t *testing.T, dir string, from, to int64) {
		t.Helper()
		dst := filepath.Join(dir, chunk.Name(to))
		if err := os.Remove(dst); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(dir, chunk.Name(from)), dst); err != nil {
			t.Skipf("cannot make a hard link here: %v", err)
		}
	}
	wantCorrupt := func(t *testing.T, err error, dir string) {
		t.Helper()
		if !errors.Is(err, chunkmap.ErrCorrupt) {
			t.Fatalf("Open of a dataset whose chunks 0 and 2 are one file = %v, want ErrCorrupt", err)
		}
		for _, k := range []int64{0, 2} {
			if name := filepath.Join(dir, chunk.Name(k)); !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name %s", err, name)
			}
		}
	}
	for _, tc := range []struct {
		name string
		opts chunkmap.Options
	}{
		{"read-write", chunkmap.Options{}},
		{"read-only", chunkmap.Options{ReadOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := lettered(t, 3)
			link(t, dir, 0, 2)
			before, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			m, err := chunkmap.Open(dir, &tc.opts)
			if err == nil {
				m.Close()
			}
			wantCorrupt(t, err, dir)
			after, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("the directory held %d names before Open and %d after", len(before), len(after))
			}
		})
	}
	t.Run("following", func(t *testing.T) {
		dir := lettered(t, 3)
		w, err := chunkmap.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		link(t, dir, 0, 2)
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err == nil {
			r.Close()
		}
		wantCorrupt(t, err, dir)
	})
	t.Run("linked outside", func(t *testing.T) {
		dir := lettered(t, 3)
		if err := os.Link(filepath.Join(dir, chunk.Name(1)), filepath.Join(t.TempDir(), "backup")); err != nil {
			t.Skipf("cannot make a hard link here: %v", err)
		}
		m := openTestManager(t, dir, nil)
		if got := readAt(t, m, cs, 1); got[0] != 'b' {
			t.Fatalf("chunk 1 reads %q, want 'b'", got)
		}
	})
}
