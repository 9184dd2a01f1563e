//go:build unix

package chunkmap

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestClose_UnlocksWhileDescriptorShared: Close releases the directory's
// lock even while another descriptor of the same open file description
// exists, as one does in a child process forked (by any goroutine of the
// program) and not yet exec'd: a reopen right after Close must not find
// the dataset locked.
func TestClose_UnlocksWhileDescriptorShared(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	dup, err := unix.Dup(int(m.mu.lock.f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatalf("reopen after Close, with the lock's description still shared: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
