package chunkmap_test

// Windows cannot delete a mapped file, so there a chunk deleted (Truncate,
// DropBefore) while a pin or a batch maps it keeps its file until the last
// release. These tests run that path on every platform.

import (
	"slices"
	"testing"

	"github.com/chunkmap/chunkmap"
)

func TestDeferredRemove(t *testing.T) {
	defer chunkmap.SetUnmapBeforeRemove(chunkmap.SetUnmapBeforeRemove(true))
	tests := []struct {
		name      string
		scattered bool // pins across chunks are private views
		off       int64
		n         int
		pinned    []int64 // the chunks the pin maps
	}{
		{"in its slot", false, 2*cs + 8, 16, []int64{2}},
		{"in a private view", true, 3*cs - 8, 16, []int64{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer chunkmap.SetScatteredArena(chunkmap.SetScatteredArena(tt.scattered))
			m := evictionDataset(t, 4, nil)
			p, err := m.Pin(tt.off, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			if _, _, views := m.Mappings(); (views > 0) != tt.scattered {
				t.Fatalf("%d chunks in private views, want a view: %v", views, tt.scattered)
			}
			if err := m.Truncate(2 * cs); err != nil {
				t.Fatal(err)
			}
			if got, want := chunkFiles(t, m.Dir()), append([]int64{0, 1}, tt.pinned...); !slices.Equal(got, want) {
				t.Errorf("chunk files while pinned = %v, want %v: a mapped chunk's file goes at its last release", got, want)
			}
			p.Release()
			wantChunkFiles(t, m.Dir(), 0, 2)
		})
	}
}
