//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestClixMeter_OnlyOnATerminal: the progress line goes to standard error
// "only when it is a terminal". /dev/null is a character device but no
// terminal (isatty fails), so no meter may draw there.
func TestClixMeter_OnlyOnATerminal(t *testing.T) {
	for _, dev := range []string{os.DevNull, "/dev/zero"} {
		f, err := os.OpenFile(dev, os.O_WRONLY, 0)
		if err != nil {
			t.Skip(err)
		}
		if m := newMeter(f, "salvage", 1<<30); m != nil {
			t.Errorf("newMeter(%s) draws progress: %s is not a terminal", dev, dev)
		}
		f.Close()
	}
}

// TestClixCat_OffOutOfRangeNamesFlag: errors name flags; an -off outside
// [Start, Size] should say "-off" (as trim's "-before N is out of range"
// does), not a bare "offset".
func TestClixCat_OffOutOfRangeNamesFlag(t *testing.T) {
	healthy, damaged := newDataset(t), newDataset(t)
	remove(t, filepath.Join(damaged, chunk.Name(2)))
	for _, d := range []string{healthy, damaged} {
		code, _, errOut := clixRun(t, "cat", "-off", "999999999", d)
		if code == exitOK || !strings.Contains(errOut, "-off") {
			t.Errorf("cat -off 999999999: exit status %d, stderr %q; want an error naming -off", code, errOut)
		}
	}
}

// TestClixNoDataset: an empty directory, a file, a missing path, a FIFO as
// DIR: every command fails with status 1 and a message, nothing hangs,
// nothing is created.
func TestClixNoDataset(t *testing.T) {
	tmp := t.TempDir()
	empty := filepath.Join(tmp, "empty")
	mkdir(t, empty)
	file := filepath.Join(tmp, "file")
	write(t, file, "not a dataset")
	fifo := filepath.Join(tmp, "fifo")
	must(t, mkfifo(fifo))
	before := snapshot(t, tmp)
	for _, dir := range []string{empty, file, fifo, filepath.Join(tmp, "none")} {
		for _, args := range [][]string{
			{"info", dir}, {"verify", dir}, {"verify", "-read", dir}, {"cat", dir}, {"cat", "-hex", dir},
			{"trim", dir, "-before", "0"}, {"salvage", dir, filepath.Join(t.TempDir(), "out")},
		} {
			code, out, errOut := clixRun(t, args...)
			if code != exitFail || errOut == "" {
				t.Errorf("%q: exit status %d, stdout %q, stderr %q; want 1 and an error", args, code, out, errOut)
			}
		}
	}
	checkUnchanged(t, tmp, before)
}

// TestClixDanglingSymlink: DIR a symlink to nothing, or to itself. The
// tool follows a symlink DIR, so every command says that the path does
// not resolve, as verify, trim and salvage did; info and cat said
// "corrupt dataset: not a directory (it is a symlink)", the library's
// refusal of a symlink it is not asked to follow, which sent the operator
// to look for damage in a dataset that is not there.
func TestClixDanglingSymlink(t *testing.T) {
	tmp := t.TempDir()
	dangling := filepath.Join(tmp, "dangling")
	must(t, os.Symlink(filepath.Join(tmp, "none"), dangling))
	loop := filepath.Join(tmp, "loop")
	must(t, os.Symlink(loop, loop))
	for _, tc := range []struct{ dir, want string }{
		{dangling, "no such file or directory"},
		{loop, "too many levels of symbolic links"},
	} {
		for _, args := range [][]string{
			{"info", tc.dir}, {"verify", tc.dir}, {"cat", tc.dir}, {"cat", "-hex", tc.dir},
			{"trim", tc.dir, "-before", "0"}, {"salvage", tc.dir, filepath.Join(t.TempDir(), "out")},
		} {
			code, _, errOut := clixRun(t, args...)
			if code != exitFail || !strings.Contains(errOut, tc.dir) || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "corrupt") {
				t.Errorf("%q: exit status %d, stderr %q; want %d naming %s: %s", args, code, errOut, exitFail, tc.dir, tc.want)
			}
		}
	}
}

// TestClixTrimManifestNotExamined: trim says DIR "holds no dataset" only
// where no MANIFEST is there. It said so of a MANIFEST it could not
// examine (a directory nobody but its owner may search), which holds a
// dataset all the same, and of a MANIFEST that is a dangling symlink,
// which Open refuses as corrupt, naming it.
func TestClixTrimManifestNotExamined(t *testing.T) {
	t.Run("symlink", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ds")
		advxDataset(t, dir, 3*chunkmap.MinChunkSize)
		manifest := filepath.Join(dir, chunkmap.ManifestName)
		must(t, os.Rename(manifest, manifest+".moved"))
		must(t, os.Symlink(manifest+".moved.gone", manifest))
		code, _, errOut := clixRun(t, "trim", dir, "-before", "64KiB")
		if code != exitFail || strings.Contains(errOut, "holds no dataset") || !strings.Contains(errOut, "corrupt") || !strings.Contains(errOut, manifest) {
			t.Errorf("trim with MANIFEST a dangling symlink: status %d, stderr %q; want %d, a corrupt dataset naming %s", code, errOut, exitFail, manifest)
		}
	})
	t.Run("permission", func(t *testing.T) {
		if unpriv.Run(t) {
			return // root searches any directory
		}
		// A directory this user may read but not search: its MANIFEST
		// cannot be examined, as in another user's directory of mode
		// 0o700.
		dir := filepath.Join(t.TempDir(), "ds")
		advxDataset(t, dir, 3*chunkmap.MinChunkSize)
		must(t, os.Chmod(dir, 0o600))
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		code, _, errOut := clixRun(t, "trim", dir, "-before", "64KiB")
		if code != exitFail || strings.Contains(errOut, "holds no dataset") || !strings.Contains(errOut, "permission denied") {
			t.Errorf("trim of a dataset in a directory of mode 0o600: status %d, stderr %q; want %d and permission denied", code, errOut, exitFail)
		}
	})
}
