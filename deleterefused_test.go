package chunkmap_test

import (
	"errors"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestShrink_DeleteRefusedForSpaceIsErrIO: a Truncate or DropBefore whose
// deletion of a chunk file the system refuses has changed Size or Start
// all the same, and says so with ErrIO, as their docs promise. A file
// system may refuse an unlink for want of space (a full btrfs needs room
// for the metadata it rewrites): that refusal must not turn the error into
// ErrNoSpace, which promises that nothing was done.
func TestShrink_DeleteRefusedForSpaceIsErrIO(t *testing.T) {
	tests := []struct {
		name      string
		grow      int64 // Grow first, for spare chunks past Size
		call      func(m *chunkmap.Manager) error
		wantStart int64
		wantSize  int64
	}{
		{"Truncate shrinking", 0, func(m *chunkmap.Manager) error { return m.Truncate(cs + 10) }, 0, cs + 10},
		{"Truncate over spare chunks", 2 * cs, func(m *chunkmap.Manager) error { return m.Truncate(4 * cs) }, 0, 4 * cs},
		{"DropBefore", 0, func(m *chunkmap.Manager) error { return m.DropBefore(2*cs + 5) }, 2 * cs, 4 * cs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := vfstest.NewFaulty(nil)
			o := chunkmap.Options{ChunkSize: cs}
			chunkmap.SetFS(&o, f)
			m := openTestManager(t, t.TempDir(), &o)
			writeAt(t, m, pattern(3, 4*cs), 0)
			if tt.grow > 0 {
				if err := m.Grow(tt.grow); err != nil {
					t.Fatal(err)
				}
			}
			rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpRemove, "*.chunk"), Err: chunkmap.SpaceErrno, Times: 1})
			err := tt.call(m)
			if f.Fired(rule) != 1 {
				t.Fatalf("the rule fired %d times, want 1: %v", f.Fired(rule), err)
			}
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, chunkmap.SpaceErrno) {
				t.Errorf("with a chunk file's removal refused for want of space: %v, want ErrIO, with the system's error", err)
			}
			if errors.Is(err, chunkmap.ErrNoSpace) {
				t.Errorf("the error matches ErrNoSpace, which says nothing was done: %v", err)
			}
			if got, got2 := m.Start(), m.Size(); got != tt.wantStart || got2 != tt.wantSize {
				t.Errorf("Start, Size = %d, %d, want %d, %d: the change stands", got, got2, tt.wantStart, tt.wantSize)
			}
		})
	}
}
