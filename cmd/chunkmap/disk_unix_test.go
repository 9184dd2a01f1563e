//go:build unix

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestGiveOwnerMode_FollowsNoSymlink checks that giveOwnerMode, which
// salvage calls on a temporary directory in OUT's parent, changes nothing
// a symlink put under that name points to: whoever may write the parent
// (OUT's owner, when root salvages into a user's directory) may swap the
// directory for a symlink between its mkdir and the call. It used
// chmod(2) by path, which follows the symlink: root gave the target (say
// /etc/shadow) the empty directory's mode.
func TestGiveOwnerMode_FollowsNoSymlink(t *testing.T) {
	top := t.TempDir()
	target := filepath.Join(top, "secret")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(top, ".out.salvage-1.tmp")
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(top)
	if err != nil {
		t.Fatal(err)
	}
	if err := giveOwnerMode(tmp, fi); err == nil {
		t.Errorf("giveOwnerMode(%s, a directory), a symlink to a file: no error", tmp)
	}
	if got, err := os.Stat(target); err != nil || got.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target: %v; want it of mode 0600 still", fileMode(got, err))
	}
}

// TestGiveOwnerMode checks that a directory gets the mode, set-group-ID
// bit included, of the directory it stands in for.
func TestGiveOwnerMode(t *testing.T) {
	top := t.TempDir()
	like, dir := filepath.Join(top, "like"), filepath.Join(top, "dir")
	for _, d := range []string{like, dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(like, 0o2750); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(like)
	if err != nil {
		t.Fatal(err)
	}
	if err := giveOwnerMode(dir, fi); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Stat(dir); err != nil || got.Mode() != fi.Mode() {
		t.Errorf("Stat(%s): %v, want mode %v", dir, fileMode(got, err), fi.Mode())
	}
}

// fileMode is the mode of a Stat's result, or its error.
func fileMode(fi os.FileInfo, err error) any {
	if err != nil {
		return err
	}
	return fi.Mode()
}
