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
// fs.ErrPermission, naming the dataset, and leaves no directory behind
// (nor, in an existing directory, a manifest), so that the user's next
// Open, with a usable mode, creates the dataset. Open made the directory
// with the mode (0o555 for 0o444, 0o300 for 0o200) and left it there,
// empty: a half-made dataset that a reader called missing and that no
// later Open of the user's could write into; in an existing directory it
// made the manifest (mode 0o444) and failed to open it for writing,
// leaving a dataset none of the user's Opens could open.
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
		{"0o444/existing", 0o444, "."},
		{"0o400/existing", 0o400, "."},
		{"0o200/existing", 0o200, "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, tc.sub, "ds")
			if tc.sub == "." {
				// An empty directory of the user's: Open makes the
				// manifest, with the mode, in a directory it may write.
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
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
			if tc.sub == "." {
				made = filepath.Join(dir, chunkmap.ManifestName)
			}
			if fi, err := os.Lstat(made); err == nil {
				os.Chmod(made, 0o700) // so that t.TempDir's cleanup and the Open below can
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
