//go:build unix

package chunkmap_test

import (
	"errors"
	"fmt"
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
	wantGrowthShape(t, err, 2*cs+6, "I/O error")
	if got := m.Size(); got != cs+10 {
		t.Errorf("Size = %d, want %d", got, cs+10)
	}
}

// wantGrowthShape checks that err, a write's failed growth to end, reads
// "OP … at offset …: grow to END bytes: chunkmap: SENTINEL: …" whatever its
// sentinel: the sentinel stood before "grow to" for some causes and after
// it for others.
func wantGrowthShape(t *testing.T, err error, end int64, sentinel string) {
	t.Helper()
	want := fmt.Sprintf(": grow to %d bytes: chunkmap: %s: ", end, sentinel)
	if msg := fmt.Sprint(err); !strings.Contains(msg, want) || strings.Count(msg, "chunkmap: ") != 1 {
		t.Errorf("growth error %q: want it to contain %q, and the sentinel once", msg, want)
	}
}

// TestGrow_NotRegularShape: growth refused because a directory stands
// under the next chunk's name is ErrCorrupt, in the shape of every other
// failed growth (wantGrowthShape), and the directory is left alone.
func TestGrow_NotRegularShape(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	writeAt(t, m, pattern(3, cs), 0)
	stray := filepath.Join(dir, chunk.Name(1))
	if err := os.Mkdir(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = m.WriteAt([]byte("x"), cs+5)
	if !errors.Is(err, chunkmap.ErrCorrupt) {
		t.Fatalf("WriteAt growing over a directory named %s: %v, want ErrCorrupt", stray, err)
	}
	wantGrowthShape(t, err, cs+6, "corrupt dataset")
	if fi, err := os.Stat(stray); err != nil || !fi.IsDir() {
		t.Errorf("the directory under the chunk's name: %v, %v; want it left", fi, err)
	}
}
