//go:build unix

package chunkmap_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestOpen_FileModeOwnerCannotUse: an Open that creates a dataset with a
// FileMode its own (non-root) user may not use fails with ErrIO matching
// fs.ErrPermission, naming the dataset once, and leaves no directory
// behind, so that the user's next Open, with a usable mode, creates the
// dataset. Open made the directory with the mode (0o555 for 0o444, 0o300
// for 0o200) and left it there, empty: a half-made dataset that a reader
// called missing and that no later Open of the user's could write into.
func TestOpen_FileModeOwnerCannotUse(t *testing.T) {
	if unpriv.Run(t) {
		return // root may use any mode
	}
	for _, tc := range []struct {
		name string
		mode os.FileMode
		sub  string // directories Open makes above the dataset's
	}{
		{"0o444", 0o444, ""},
		{"0o400", 0o400, ""},
		{"0o200", 0o200, ""},
		{"0o100", 0o100, ""},
		{"0o044", 0o044, ""},
		{"0o444/nested", 0o444, filepath.Join("a", "b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, tc.sub, "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, FileMode: tc.mode})
			if err == nil {
				m.Close()
				t.Fatalf("Open with FileMode %#o as uid %d: no error", tc.mode, os.Geteuid())
			}
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Open with FileMode %#o: %v; want ErrIO and fs.ErrPermission", tc.mode, err)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("Open with FileMode %#o: %q does not name %s", tc.mode, err, dir)
			}
			made := filepath.Join(base, strings.SplitN(filepath.Join(tc.sub, "ds"), string(filepath.Separator), 2)[0])
			if fi, err := os.Lstat(made); err == nil {
				os.Chmod(dir, 0o700) // so that t.TempDir's cleanup can remove it
				t.Errorf("a failed Open left %s (mode %v)", made, fi.Mode())
			}
			m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
			if err != nil {
				t.Fatalf("Open after the failed one: %v", err)
			}
			if _, err := m.WriteAt([]byte("x"), 2*chunkmap.MinChunkSize); err != nil {
				t.Errorf("WriteAt: %v", err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}
