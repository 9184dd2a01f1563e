//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestRemove_StickyDirOthersFiles: in a sticky directory (mode 0o1777, as
// a shared one like /tmp) a user may delete only its own files. Remove by
// a user who grew another user's dataset there (its last chunk files are
// the user's, the rest and the manifest the other's) fails with ErrIO and
// fs.ErrPermission naming a file it may not delete, and removes nothing:
// it deleted the user's own chunk files, from the highest down, and then
// failed, leaving a dataset that nobody could open (ErrCorrupt, a chunk
// missing) and that had lost those chunks' data. Root makes the dataset;
// the rest runs as another user.
func TestRemove_StickyDirOthersFiles(t *testing.T) {
	const env = "CHUNKMAP_TEST_STICKY_DATASET"
	if os.Geteuid() == 0 {
		dir := filepath.Join(unpriv.Reachable(t), "ds")
		datasetAt(t, dir) // 2 chunks, root's
		chmodFiles(t, dir, 0o666)
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		t.Setenv(env, dir)
	}
	if unpriv.Run(t) {
		return
	}
	dir := os.Getenv(env)
	if dir == "" {
		t.Skip("needs a dataset of another user's: run as root, which makes one and runs the test as another user")
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(3, cs+100)
	data = append(data, make([]byte, 3*cs-len(data))...)
	copy(data[3*cs-8:], "the tail")
	writeAt(t, m, data[3*cs-8:], 3*cs-8) // chunk 2, this user's
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	err = chunkmap.Remove(dir)
	if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Remove: %v; want ErrIO and fs.ErrPermission", err)
	}
	wantEachPathOnce(t, err, dir)
	t.Logf("Remove: %v", err)
	wantSameSnapshot(t, before, snapshot(t, dir))
	m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open after the refused Remove: %v", err)
	}
	defer m.Close()
	if got := readAt(t, m, 0, len(data)); !bytes.Equal(got, data) {
		t.Errorf("after the refused Remove, the data differs at %d", firstDiff(got, data))
	}
}
