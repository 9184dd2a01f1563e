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

// TestClixPermissionIsNotDamage: a dataset whose files this user may not
// read is not damaged. verify, verify -read and salvage fail with status
// 1 naming the file and "permission denied", say nothing is lost, and
// salvage makes no OUT. verify called a MANIFEST it could not open (mode
// 0o200, as another user's 0o600 file) a damaged manifest and advised
// salvage, and -read each such chunk file "lost", advising a backup;
// salvage then wrote an OUT of zeros in their place and reported the
// bytes lost, a "salvaged" copy of nothing. info advised running verify,
// which can read no more. (verify without -read does not open chunk
// files, and passes one it may not read: the README says so.)
func TestClixPermissionIsNotDamage(t *testing.T) {
	if unpriv.Run(t) {
		return // root reads any file
	}
	for _, tc := range []struct {
		name string
		file string // made unreadable
		args []string
	}{
		{"manifest/verify", chunkmap.ManifestName, []string{"verify"}},
		{"manifest/verify -read", chunkmap.ManifestName, []string{"verify", "-read"}},
		{"manifest/salvage", chunkmap.ManifestName, []string{"salvage"}},
		{"manifest/info", chunkmap.ManifestName, []string{"info"}},
		{"chunk/verify -read", chunk.Name(1), []string{"verify", "-read"}},
		{"chunk/salvage", chunk.Name(1), []string{"salvage"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
			must(t, err)
			_, err = m.WriteAt([]byte("data"), 2*chunkmap.MinChunkSize)
			must(t, err)
			must(t, m.Close())
			path := filepath.Join(dir, tc.file)
			must(t, os.Chmod(path, 0o200))
			t.Cleanup(func() { os.Chmod(path, 0o644) })
			out := filepath.Join(t.TempDir(), "out")
			args := append(append([]string{}, tc.args...), dir)
			if tc.args[0] == "salvage" {
				args = append(args, out)
			}
			code, stdout, stderr := clixRun(t, args...)
			if code != exitFail || !strings.Contains(stderr, path) || !strings.Contains(stderr, "permission denied") {
				t.Errorf("chunkmap %q: status %d, stderr %q; want %d, naming %s and permission denied", args, code, stderr, exitFail, path)
			}
			if all := stdout + stderr; strings.Contains(all, "lost") || strings.Contains(all, "backup") || strings.Contains(all, "run 'chunkmap salvage") || strings.Contains(all, "run 'chunkmap verify") {
				t.Errorf("chunkmap %q calls the dataset damaged:\n%s%s", args, stdout, stderr)
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("chunkmap %q made %s", args, out)
			}
		})
	}
}

// TestClixTrimNotDeleted: trim whose DropBefore moved Start but could not
// delete the chunk file below it (a directory this user may not write)
// fails, naming the file, and says that Start moved, not that the chunk
// file was deleted: it said "before it: deleted 1 chunk(s) (64 KiB)" of a
// file still there.
func TestClixTrimNotDeleted(t *testing.T) {
	if unpriv.Run(t) {
		return // root writes any directory
	}
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	must(t, err)
	_, err = m.WriteAt(make([]byte, 3*chunkmap.MinChunkSize), 0)
	must(t, err)
	must(t, m.Close())
	must(t, os.Chmod(dir, 0o555))
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	code, _, stderr := clixRun(t, "trim", dir, "-before", "64KiB")
	first := filepath.Join(dir, chunk.Name(0))
	if code != exitFail || !strings.Contains(stderr, first) || !strings.Contains(stderr, "start 0 -> 65536") || strings.Contains(stderr, "deleted 1") {
		t.Errorf("trim in a directory of mode 0o555: status %d, stderr %q; want %d, naming %s, start 0 -> 65536 and no chunk deleted", code, stderr, exitFail, first)
	}
	if _, err := os.Lstat(first); err != nil {
		t.Fatal(err)
	}
}
