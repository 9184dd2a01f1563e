package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBatch_ViewsBoundedUnderShrinks runs one Batch that reads a range
// across two chunks (a private view, the arena being scattered) while the
// dataset's Size is lowered by one byte and raised again, again and again,
// as a writer trimming a partial record would. No chunk the view maps is
// deleted, so the Batch must keep using its view, not map a new one at
// every shrink and hold them all until it ends.
func TestBatch_ViewsBoundedUnderShrinks(t *testing.T) {
	defer chunkmap.SetScatteredArena(chunkmap.SetScatteredArena(true))
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(3 * cs); err != nil {
		t.Fatal(err)
	}
	const rounds = 200
	var maxViews int
	err = m.Batch(func(b *chunkmap.Batch) error {
		for range rounds {
			if _, err := b.Bytes(cs-8, 16); err != nil { // chunks 0 and 1
				return err
			}
			if err := m.Truncate(3*cs - 1); err != nil { // chunk 2 stays
				return err
			}
			if err := m.Truncate(3 * cs); err != nil {
				return err
			}
			_, _, views := m.Mappings()
			maxViews = max(maxViews, views)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if maxViews > 8 {
		t.Errorf("one Batch reading one range held %d chunks in private views after %d shrinks that deleted no chunk it maps (2 per view): retired views grow without bound", maxViews, rounds)
	}
	if _, _, views := m.Mappings(); views != 0 {
		t.Errorf("after the Batch: %d chunks in views, want 0", views)
	}
}
