//go:build unix

package unpriv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRun_ChildTempDirWithGOTMPDIR: the child's t.TempDir is its own, one
// it may write, also where GOTMPDIR is set, which testing prefers to TMPDIR
// for it. The child inherited GOTMPDIR, a directory of root's, and every
// test run through Run failed at its first t.TempDir ('mkdir ...:
// permission denied').
func TestRun_ChildTempDirWithGOTMPDIR(t *testing.T) {
	if os.Geteuid() == 0 && os.Getenv(env) == "" {
		t.Setenv("GOTMPDIR", Reachable(t)) // mode 0o755, root's
	}
	if Run(t) {
		return
	}
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
		t.Fatalf("a file in t.TempDir as uid %d: %v", os.Geteuid(), err)
	}
}
