//go:build unix

package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestRemove_ErrLockedAcrossProcesses removes a dataset that a writer in
// another process has open: Remove fails and changes nothing, and succeeds
// once that writer has closed it.
func TestRemove_ErrLockedAcrossProcesses(t *testing.T) {
	if peerMode() {
		return
	}
	dir, _ := buildDataset(t)
	p := startPeer(t, dir)
	expectReply(t, p, "open rw", "ok")
	before := snapshot(t, dir)
	wantRemoveErr(t, dir, chunkmap.Remove(dir), chunkmap.ErrLocked)
	wantSameSnapshot(t, before, snapshot(t, dir))
	expectReply(t, p, "state", "ok 0 229376") // buildDataset's 3.5 chunks
	expectReply(t, p, "close", "ok")
	if err := chunkmap.Remove(dir); err != nil {
		t.Fatalf("Remove after the writer closed: %v", err)
	}
}
