//go:build linux

package chunkmap_test

// Tests of chunk files that the system refuses to remove or write (chattr
// +i, which binds root too), while a writer has the dataset open.

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// hfsChattr runs chattr with flag on path, skipping the test where the
// file system does not support it; the flag is cleared when the test ends.
func hfsChattr(t *testing.T, flag, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, path).CombinedOutput(); err != nil {
		t.Skipf("chattr %s %s: %v: %s", flag, path, err, out)
	}
	if flag[0] == '+' {
		t.Cleanup(func() { exec.Command("chattr", "-"+flag[1:], path).Run() })
	}
}

// TestHostileFS_TruncateUnremovableChunk makes a chunk file immutable, so
// that Truncate cannot delete it: Truncate must fail with ErrIO naming the
// file. The README says of ErrIO that the Manager stays usable: remove the
// cause and retry. Once the file is mutable again, growing the dataset
// back over the chunk's index (Append, Grow, WriteAt) must work in the same
// Manager, and the data must read back after a reopen.
func TestHostileFS_TruncateUnremovableChunk(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var md hfsModel
	data := pattern(1, 3*cs)
	writeAt(t, m, data, 0)
	md.write(data, 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, chunk.Name(2))
	hfsChattr(t, "+i", path)
	err = m.Truncate(cs)
	t.Logf("Truncate with %s immutable: %v", path, err)
	if err != nil {
		wantErrNaming(t, "Truncate", err, chunkmap.ErrIO, path)
	}
	md.truncate(m.Size()) // the new Size is in place either way
	hfsChattr(t, "-i", path)

	p := pattern(2, 2*cs)
	off, err := m.Append(p)
	if err != nil {
		t.Fatalf("Append over the chunk Truncate could not delete, once it can be: %v", err)
	}
	md.write(p, off)
	if err := m.Grow(3 * cs); err != nil {
		t.Fatalf("Grow: %v", err)
	}
	writeAt(t, m, []byte("tail"), md.size()+cs)
	md.write([]byte("tail"), md.size()+cs)
	md.check(t, m, "before reopening")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err = chunkmap.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	md.check(t, m, "after reopening")
}
