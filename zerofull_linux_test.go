//go:build linux

package chunkmap_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// TestFullDisk_RegrowOverStaleBytesSmallBlocks writes 60,000 bytes into a
// chunk on a full ext4 whose blocks are smaller than a page, cuts Size to
// 1,000 (the bytes past it stay allocated, stale), optionally Grows back
// over them, fills the disk, and writes the range again in 4 KiB pieces,
// each extending Size: every piece needs only blocks the chunk has, and
// after a Grow its doc promises that "later writes up to there neither
// create files nor fail for lack of space". Each growth zeroes the stale
// bytes it reaches first, and FALLOC_FL_ZERO_RANGE there fails with
// ENOSPC once it must split the file's extents (it converts the range to
// unwritten extents); the write failed with ErrNoSpace.
func TestFullDisk_RegrowOverStaleBytesSmallBlocks(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	watchdog.Start(t, 30*time.Second)
	for _, block := range []int{1024, 2048} {
		for _, grow := range []bool{false, true} {
			t.Run(fmt.Sprintf("block=%d/Grow=%v", block, grow), func(t *testing.T) {
				mnt := fzMountExt4(t, fzMount(t, "size=12m"), 8<<20, block)
				dir := filepath.Join(mnt, "ds")
				m := fzOpen(t, dir, chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
				const cut, end = 1000, 61000
				if _, err := m.Append(pattern(1, end-1000)); err != nil {
					t.Fatal(err)
				}
				if err := m.Truncate(cut); err != nil {
					t.Fatal(err)
				}
				if grow {
					if err := m.Grow(end - cut); err != nil {
						t.Fatal(err)
					}
				}
				model := pattern(1, cut)
				fzFill(t, mnt)
				for off := int64(cut); off < end; off += 4096 {
					p := pattern(uint64(off), int(min(4096, end-off)))
					if _, err := m.WriteAt(p, off); err != nil {
						t.Fatalf("WriteAt(%d bytes at %d, Size %d) over bytes the chunk holds, on a full disk: %v", len(p), off, m.Size(), err)
					}
					model = append(model, p...)
				}
				fzExpect(t, "the rewritten bytes", m, 0, model)
				if err := m.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				fzHolds(t, "reopened", fzOpen(t, dir, chunkmap.Options{}), 0, model)
			})
		}
	}
}
