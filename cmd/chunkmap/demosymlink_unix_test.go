//go:build unix

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRun_Demo_DirSymlink runs demo with -dir a symlink to an empty
// directory. The tool follows a symlink it is given as a dataset's
// directory (README: the library's Open refuses one, the tool does not),
// and demo must too: it refused the empty directory as a "corrupt dataset:
// not a directory (it is a symlink)", a dataset that was not there.
func TestRun_Demo_DirSymlink(t *testing.T) {
	tmp := t.TempDir()
	target := filepath.Join(tmp, "empty")
	must(t, os.Mkdir(target, 0o755))
	link := filepath.Join(tmp, "link")
	must(t, os.Symlink(target, link))
	code, _, stderr := runCmd(t, "demo", "-dir", link, "-size", "640KiB", "-chunk", "64KiB", "-block", "64KiB", "-reads", "8", "-compare=false")
	if code != exitOK {
		t.Fatalf("demo -dir %s (a symlink to an empty directory): exit status %d\n%s", link, code, stderr)
	}
	if code, stdout, stderr := runCmd(t, "verify", target); code != exitOK {
		t.Errorf("verify %s, where demo -dir %s kept its dataset: exit status %d\n%s%s", target, link, code, stdout, stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink demo was given: %v, %v; want it left as it was", fi, err)
	}
}
