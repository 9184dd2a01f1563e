//go:build linux

package chunkmap_test

import (
	"fmt"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestStatsCountMappings checks Stats' Mapped and Pinned against the
// kernel's list of mappings where a Batch maps chunks more than once: bytes
// across the arena's end come from a private view that maps its chunks
// again beside the arena's slots and the views of other spans, and Stats
// counts each mapping, as its doc says. Once the batch ends, MaxMapped
// bounds both again.
func TestStatsCountMappings(t *testing.T) {
	for _, mm := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("MaxMapped=%d", mm), func(t *testing.T) {
			m, dir := bxOpen(t, chunkmap.Options{MaxMapped: mm, ArenaSize: 4 * bxChunk})
			defer m.Close()
			bxFill(t, m, 8)
			check := func(what string, wantPinned int) {
				t.Helper()
				st := m.Stats()
				kb, _ := bxMaps(t, dir)
				if int64(st.Mapped)*bxChunk != kb {
					t.Errorf("%s: Stats().Mapped = %d chunks, the kernel lists %d bytes of chunk files (%d chunks)", what, st.Mapped, kb, kb/bxChunk)
				}
				if st.Pinned != wantPinned {
					t.Errorf("%s: Stats().Pinned = %d, want %d", what, st.Pinned, wantPinned)
				}
				if st.Mapped > mm+st.Pinned {
					t.Errorf("%s: Stats().Mapped = %d, more than MaxMapped %d plus Pinned %d", what, st.Mapped, mm, st.Pinned)
				}
			}
			err := m.Batch(func(b *chunkmap.Batch) error {
				// Chunks 0-3 in their slots, 4-7 each in a view of its
				// own (their slots are held by 0-3).
				if err := b.Hold(0, 8*bxChunk); err != nil {
					return err
				}
				check("Hold of 8 chunks", 8)
				for range 3 { // one view per span, however often asked
					p, err := b.Bytes(4*bxChunk-4, 8)
					if err != nil {
						return err
					}
					if bad, ok := bxCheckPat(p, 4*bxChunk-4); !ok {
						t.Errorf("Bytes across the arena's end: byte at %d wrong", bad)
					}
				}
				check("and Bytes across the arena's end", 10)
				if _, err := b.WritableBytes(4*bxChunk-4, 8); err != nil {
					return err
				}
				check("and WritableBytes of the same span", 12)
				p, err := b.Bytes(0, 8*bxChunk)
				if err != nil {
					return err
				}
				if bad, ok := bxCheckPat(p, 0); !ok {
					t.Errorf("Bytes of the whole dataset: byte at %d wrong", bad)
				}
				check("and Bytes of the whole dataset", 20)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			check("after the batch", 0)
			if st := m.Stats(); st.Mapped > mm {
				t.Errorf("after the batch: Stats().Mapped = %d, want at most MaxMapped %d", st.Mapped, mm)
			}
		})
	}
}

// TestStatsChunksAfterGrow checks Stats().Chunks against the chunk files in
// the directory where Grow made chunks past Size: a writer counts them, a
// ReadOnly Manager following it counts only those [Start, Size) covers,
// and the next read-write Open removes them, as Stats' and Grow's docs
// say.
func TestStatsChunksAfterGrow(t *testing.T) {
	w, dir := bxOpen(t, chunkmap.Options{})
	defer func() { w.Close() }() // the Manager reopened below too
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	files := func() int { t.Helper(); return len(regularChunks(t, dir)) }
	for _, step := range []struct {
		what          string
		do            func() error
		files, reader int
	}{
		{"write into chunk 2", func() error { _, err := w.WriteAt([]byte{1}, 2*bxChunk+5); return err }, 3, 3},
		{"Grow by 3 chunks", func() error { return w.Grow(3 * bxChunk) }, 6, 3},
		{"write into chunk 4", func() error { _, err := w.WriteAt([]byte{1}, 4*bxChunk); return err }, 6, 5},
		{"Truncate into chunk 1", func() error { return w.Truncate(bxChunk + 1) }, 2, 2},
		{"Grow by 2 chunks", func() error { return w.Grow(2 * bxChunk) }, 4, 2},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		if got := files(); got != step.files {
			t.Fatalf("%s: %d chunk files, want %d", step.what, got, step.files)
		}
		if got := w.Stats().Chunks; got != step.files {
			t.Errorf("%s: the writer's Stats().Chunks = %d, want the %d files", step.what, got, step.files)
		}
		if got := r.Stats().Chunks; got != step.reader {
			t.Errorf("%s: the reader's Stats().Chunks = %d, want %d (the chunks Size covers)", step.what, got, step.reader)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, st := files(), w.Stats(); got != 2 || st.Chunks != 2 {
		t.Errorf("reopened: %d chunk files, Stats().Chunks = %d; want 2 (the chunks Grow made past Size removed)", got, st.Chunks)
	}
}
