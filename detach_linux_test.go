package chunkmap_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
)

// TestCloseUnmapsManifest checks that Close leaves no file of the dataset
// mapped, the manifest included, although the closed Managers are still
// referenced (the state page stays at its address, for calls that race
// with Close, but as a copy): the dataset can be removed and its file
// system unmounted at once, as the README's "unmaps everything" says. A
// Manager that keeps the manifest mapped until it is garbage collected
// keeps the deleted file's space, and umount fails with EBUSY.
func TestCloseUnmapsManifest(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	mnt := mountTmpfs(t, 4<<20)
	dir := filepath.Join(mnt, "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(make([]byte, 3*cs+5)); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 8), 2*cs); err != nil {
		t.Fatal(err)
	}
	if maps := bxMapsOf(t, dir); maps == "" {
		t.Fatal("no mapping of the dataset's files while it is open: /proc/self/maps cannot show what Close leaves")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if maps := bxMapsOf(t, dir); maps != "" {
		t.Errorf("after Close, files of the dataset are still mapped:\n%s", maps)
	}
	for name, m := range map[string]*chunkmap.Manager{"writer": w, "reader": r} {
		if got := m.Size(); got != 3*cs+5 {
			t.Errorf("%s: Size after Close = %d, want the last Size, %d", name, got, 3*cs+5)
		}
	}
	if err := chunkmap.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Errorf("unmount after Close and Remove, with the closed Managers still referenced: %v", err)
	} else if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatal(err) // for mountTmpfs's cleanup to unmount
	}
	runtime.KeepAlive(w)
	runtime.KeepAlive(r)
}

// TestCloseUnmapsManifestCutUnderIt: Close turns the manifest's state
// page into a copy of itself, which needs the page readable. Where it is
// not (another program truncated the manifest, or its file system failed
// and the page is not in memory), the mapping of the file stayed until the
// closed Manager was garbage collected: the file system could not be
// unmounted (EBUSY) after Close returned.
func TestCloseUnmapsManifestCutUnderIt(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	mnt := mountTmpfs(t, 4<<20)
	dir := filepath.Join(mnt, "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(make([]byte, cs+5)); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, chunkmap.ManifestName), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil && !matchesSentinel(err) {
		t.Errorf("Close: error matches no sentinel: %v", err)
	}
	if maps := bxMapsOf(t, dir); maps != "" {
		t.Errorf("after Close, files of the dataset are still mapped:\n%s", maps)
	}
	if got := w.Size(); got != cs+5 {
		t.Errorf("Size after Close = %d, want the last Size, %d", got, cs+5)
	}
	runtime.KeepAlive(w)
}
