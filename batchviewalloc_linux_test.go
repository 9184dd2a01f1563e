//go:build linux

package chunkmap_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBatch_ViewWritableAllocatedAsMapped: WritableBytes over chunks that
// are not side by side in the arena maps them in a private view, and must
// hand out only bytes allocated on disk, so that a full disk is the call's
// ErrNoSpace and never a SIGBUS (the batch's ErrFault) at the store. The
// hook deletes both chunks and makes them anew, as holes, between the
// call's allocation and its mapping, and fills the disk: the view then maps
// the new files, which nothing allocated.
func TestBatch_ViewWritableAllocatedAsMapped(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	tests := []struct {
		name      string
		scattered bool
	}{
		{"contiguous arena", false},
		{"scattered arena", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := mountTmpfs(t, 4<<20)
			dir := filepath.Join(root, "ds")
			// Holes below Size, as a file system that keeps them has.
			was, wasHoles := chunkmap.SetScatteredArena(tt.scattered), chunkmap.SetKeepHoles(true)
			// One slot: a range across two chunks is a private view.
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, ArenaSize: cs, MaxMapped: 1})
			chunkmap.SetScatteredArena(was)
			chunkmap.SetKeepHoles(wasHoles)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.Append(make([]byte, 2*cs)); err != nil {
				t.Fatal(err)
			}
			fired := false
			chunkmap.SetBatchAllocHook(func() {
				if fired {
					return
				}
				fired = true
				if err := m.Truncate(0); err != nil {
					t.Error(err)
				}
				if err := m.Truncate(2 * cs); err != nil {
					t.Error(err)
				}
				fillDisk(t, root, "filler")
			})
			defer chunkmap.SetBatchAllocHook(nil)
			err = m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(cs-8, 16)
				if err != nil {
					return err
				}
				copy(p, "0123456789abcdef") // faults if the bytes are a hole
				return nil
			})
			if !fired {
				t.Fatal("the hook did not run: the write took no locked allocation")
			}
			if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Errorf("Batch storing across the regrown chunks of a full disk = %v, want ErrNoSpace from WritableBytes", err)
			}
		})
	}
}
