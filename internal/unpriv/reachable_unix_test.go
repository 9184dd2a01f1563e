//go:build unix

package unpriv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReachable_OpensOnlyItsOwnDirectories checks that Reachable opens up
// the test's own temporary directories and nothing above them, wherever
// t.TempDir puts them: GOTMPDIR, which testing prefers to TMPDIR, and a
// directory named with a trailing slash are both common. Each case keeps
// the directories it may change inside one of its own, under a TMPDIR that
// stops a walk up to the root there, so that a broken Reachable cannot
// change the system's temporary directory.
func TestReachable_OpensOnlyItsOwnDirectories(t *testing.T) {
	tests := []struct {
		name   string
		gotmp  func(shared string) string // GOTMPDIR for the shared directory
		shared os.FileMode                // its mode, which must stay
	}{
		{"GOTMPDIR", func(d string) string { return d }, os.ModeSticky | 0o777},
		{"GOTMPDIR/", func(d string) string { return d + "/" }, os.ModeSticky | 0o777},
		{"GOTMPDIR private", func(d string) string { return d }, 0o711},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := t.TempDir()
			shared := filepath.Join(top, "shared")
			if err := os.Mkdir(shared, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(shared, tt.shared); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TMPDIR", top)
			t.Setenv("GOTMPDIR", tt.gotmp(shared))
			var base string
			t.Run("child", func(t *testing.T) {
				base = Reachable(t)
				for _, d := range []string{base, filepath.Dir(base)} {
					fi, err := os.Stat(d)
					if err != nil {
						t.Fatal(err)
					}
					if fi.Mode().Perm()&0o005 != 0o005 {
						t.Errorf("%s has mode %v: others may not reach it", d, fi.Mode())
					}
				}
			})
			if got := filepath.Dir(filepath.Dir(base)); got != filepath.Clean(shared) {
				t.Fatalf("Reachable = %s, not in a test directory of %s", base, shared)
			}
			fi, err := os.Stat(shared)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeSticky); got != tt.shared {
				t.Errorf("Reachable changed the mode of %s, which is not its own, from %v to %v", shared, tt.shared, got)
			}
		})
	}
}
