package chunkmap_test

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestTruncate_RecordFailsLeavesSize: a Truncate that must lower the
// manifest's record before it deletes chunk files (the record still
// covers them) and cannot write it fails with nothing done, whether it
// shrinks the dataset or extends it over spare chunks that Grow made:
// ErrNoSpace, and ErrIO, promise that the dataset is as it was, so Size
// and the chunk files must be too.
//
// The record covers more than the new Size after a Sync at a larger Size
// followed by a Truncate within the last chunk, which writes no record.
func TestTruncate_RecordFailsLeavesSize(t *testing.T) {
	tests := []struct {
		name  string
		errno syscall.Errno
		want  error
		size  int64 // what the failing Truncate asks for
		grow  int64 // Grow before it, for spare chunks past Size
	}{
		{"shrink, full disk", chunkmap.SpaceErrno, chunkmap.ErrNoSpace, 2*cs + 10, 0},
		{"extend over spare chunks, full disk", chunkmap.SpaceErrno, chunkmap.ErrNoSpace, 4*cs + 20, 3 * cs},
		{"extend over spare chunks, I/O error", syscall.EIO, chunkmap.ErrIO, 4*cs + 20, 3 * cs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := vfstest.NewFaulty(nil)
			o := chunkmap.Options{ChunkSize: cs}
			chunkmap.SetFS(&o, f)
			dir := t.TempDir()
			m := openTestManager(t, dir, &o)
			writeAt(t, m, pattern(1, 5*cs), 0)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			// Within the last chunk: no file goes, so no record is
			// written, and the record keeps Size 5*cs.
			if err := m.Truncate(4*cs + 10); err != nil {
				t.Fatal(err)
			}
			if tt.grow > 0 {
				if err := m.Grow(tt.grow); err != nil {
					t.Fatal(err)
				}
			}
			size, files := m.Size(), chunkFiles(t, dir)
			rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, chunkmap.ManifestName), Err: tt.errno, Times: 1})
			err := m.Truncate(tt.size)
			if f.Fired(rule) != 1 {
				t.Fatalf("Truncate(%d) wrote no record (the rule fired %d times): %v", tt.size, f.Fired(rule), err)
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, tt.errno) {
				t.Fatalf("Truncate(%d) with the record's write failing: %v, want %v and %v", tt.size, err, tt.want, tt.errno)
			}
			if got := m.Size(); got != size {
				t.Errorf("Size after the failed Truncate(%d) = %d, want %d as before it (%v)", tt.size, got, size, err)
			}
			if got := chunkFiles(t, dir); !slices.Equal(got, files) {
				t.Errorf("chunk files after the failed Truncate = %v, want %v", got, files)
			}
			// The cause gone, the same call does what it says.
			if err := m.Truncate(tt.size); err != nil {
				t.Fatalf("Truncate(%d) again: %v", tt.size, err)
			}
			if got := m.Size(); got != tt.size {
				t.Errorf("Size after Truncate(%d) = %d", tt.size, got)
			}
			wantChunkFiles(t, dir, 0, (tt.size+cs-1)/cs)
		})
	}
}
