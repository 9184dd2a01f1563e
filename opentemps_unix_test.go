//go:build unix

package chunkmap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestOpen_TempLeftoverNotRemovable: a writer's Open removes the
// temporary files a crash left, which never hold data; where the system
// refuses (a directory this user may not write, or another user's file in
// a sticky one) the dataset opens all the same, as it does with a stale
// chunk file it cannot remove, and the next Open that may removes it.
// Open failed with ErrIO ("remove DIR/MANIFEST.tmp: permission denied"),
// keeping the dataset from a writer that could write every byte in place,
// as it could with no leftover there.
func TestOpen_TempLeftoverNotRemovable(t *testing.T) {
	if unpriv.Run(t) {
		return // root removes any file
	}
	for _, name := range []string{chunkmap.ManifestName + ".tmp", "0000000000000005.chunk.tmp", "0000000000000001.chunk.0badc0de.tmp"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			datasetAt(t, dir)
			data := pattern(3, cs+100)
			leftover := filepath.Join(dir, name)
			if err := os.WriteFile(leftover, []byte("half"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatalf("Open with %s there, in a directory of mode 0o555: %v", name, err)
			}
			copy(data[cs-2:], "xyzw")
			writeAt(t, m, data[cs-2:cs+2], cs-2)
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatalf("Open once the directory may be written: %v", err)
			}
			if got := readAt(t, m, 0, len(data)); !bytes.Equal(got, data) {
				t.Errorf("the data differs at %d", firstDiff(got, data))
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(leftover); !os.IsNotExist(err) {
				t.Errorf("%s is still there (Lstat: %v)", name, err)
			}
		})
	}
}
