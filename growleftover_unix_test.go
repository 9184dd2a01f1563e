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
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestGrow_LeftoverNotRemovableNamedOnce: growth over a chunk file past
// Size that a Truncate failed to delete removes it first; where the system
// refuses that too (a directory this user may not write), the growth fails
// with ErrIO and fs.ErrPermission in one line that names the file once,
// Size unchanged. It said "create F: file exists" and "remove F:
// permission denied" on two lines, the first of them no reason at all.
func TestGrow_LeftoverNotRemovableNamedOnce(t *testing.T) {
	if unpriv.Run(t) {
		return // root writes any directory
	}
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	writeAt(t, m, pattern(3, 3*cs), 0)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if err := m.Truncate(cs + 10); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Truncate in a directory of mode 0o555: %v, want fs.ErrPermission", err)
	}
	_, err = m.WriteAt([]byte("x"), 2*cs+5)
	leftover := filepath.Join(dir, chunk.Name(2))
	if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("WriteAt over the leftover: %v; want ErrIO and fs.ErrPermission", err)
	}
	if msg := err.Error(); strings.Count(msg, leftover) != 1 || strings.Contains(msg, "\n") || strings.Contains(msg, "file exists") {
		t.Errorf("WriteAt over the leftover: %q; want one line naming %s once, without \"file exists\"", msg, leftover)
	}
	if got := m.Size(); got != cs+10 {
		t.Errorf("Size = %d, want %d", got, cs+10)
	}
}
