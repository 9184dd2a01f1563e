//go:build linux

package chunkmap_test

// File systems other than ext4: what a dataset's directory on them must
// still do, or refuse with an error matching a sentinel.

import (
	"os/exec"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// ofsMountRamfs mounts a ramfs on a new directory and unmounts it when t
// ends. It skips t where mounting is not allowed (not root).
func ofsMountRamfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ramfs", "ramfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a ramfs (%v): %s", err, out)
	}
	t.Cleanup(func() { fzUnmount(t, dir) })
	return dir
}

// TestOtherFS_GrowthWhereNoBlocksAreCounted: ramfs and a tmpfs mounted
// with size=0 have no size limit, and statfs reports 0 blocks, 0 free for
// them. Growth by more than a few chunks at once, which is refused up front
// where the free space cannot hold it, was refused there with ErrNoSpace
// ("... needs 100 chunks of 65536 bytes, 0 bytes free"), although the file
// system takes it.
func TestOtherFS_GrowthWhereNoBlocksAreCounted(t *testing.T) {
	for _, fs := range []struct {
		name  string
		mount func(*testing.T) string
	}{
		{"ramfs", ofsMountRamfs},
		{"tmpfs size=0", func(t *testing.T) string { return fzMount(t, "size=0") }},
	} {
		t.Run(fs.name, func(t *testing.T) {
			dir := fs.mount(t) + "/ds"
			const cs = 64 << 10
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.Grow(100 * cs); err != nil {
				t.Errorf("Grow by 100 chunks: %v", err)
			}
			if err := m.Truncate(100 * cs); err != nil {
				t.Errorf("Truncate to 100 chunks: %v", err)
			}
			if _, err := m.WriteAt([]byte("x"), 300*cs); err != nil {
				t.Errorf("WriteAt 200 chunks past Size: %v", err)
			}
			if got := m.Size(); got != 300*cs+1 {
				t.Errorf("Size = %d, want %d", got, 300*cs+1)
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}
