//go:build unix

package chunkmap

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCanonicalDir_NeverFollowsTheLastName: Open and Remove look at dir
// (Lstat: a directory, not a symlink), then resolve it with canonicalDir
// and lock it by that path. If another program put a symlink under dir's
// name in between, resolving the name followed it, and the Manager locked,
// cleaned up and wrote the dataset the link points to. The last name is
// kept as it is (the parents are resolved), and lockDir refuses a symlink
// there as Open's look does: ErrCorrupt.
func TestCanonicalDir_NeverFollowsTheLastName(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(root, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	parentLink := filepath.Join(root, "P")
	if err := os.Symlink(root, parentLink); err != nil {
		t.Fatal(err)
	}
	ds := filepath.Join(root, "ds")
	if err := os.Symlink(other, ds); err != nil { // swapped in for the directory
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{ds, ds},
		{ds + "/", ds},
		{ds + "/.", ds},
		{filepath.Join(parentLink, "ds"), ds}, // parents are resolved
		{parentLink + "/other/..", root},
		{parentLink + "/ds/..", root},
	} {
		if got := canonicalDir(c.dir); got != c.want {
			t.Errorf("canonicalDir(%q) = %q, want %q", c.dir, got, c.want)
		}
	}
	l, err := lockDir(canonicalDir(ds), true)
	if err == nil {
		l.unlock()
		t.Fatalf("lockDir of a symlink to a directory succeeded: it locks what the link points to")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("lockDir of a symlink: %v, want ErrCorrupt", err)
	}
}
