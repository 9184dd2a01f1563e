package chunkmap

import (
	"testing"
)

// TestFollow_DroppedChunksLeaveNoCounts follows a rotating log: the writer
// appends a chunk at a time and drops all but the last few, and a reader
// reads each chunk as it comes, through the pread and mapping paths whose
// misses admission counts per chunk. The writer forgets the counts of the
// chunks it deletes; the reader must forget them too once they are below
// Start, or it keeps one for every chunk the log ever had (9.4 MB after
// 250,000 chunks of 64 KiB, growing for as long as it follows).
func TestFollow_DroppedChunksLeaveNoCounts(t *testing.T) {
	const cs, keep, chunks = MinChunkSize, 4, 600
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := Open(dir, &Options{ReadOnly: true, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := make([]byte, cs/4)
	got := make([]byte, len(rec))
	for i := 0; i < chunks*4; i++ {
		off, err := w.Append(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if i%4 == 3 && off >= keep*cs {
			if err := w.DropBefore(off - keep*cs); err != nil {
				skipIfHeldDelete(t, err)
				t.Fatal(err)
			}
		}
	}
	r.Stats() // follows the writer's last drop
	for _, m := range []*Manager{w, r} {
		m.mu.Lock()
		n, first := len(m.mu.freq), m.mu.first
		below := 0
		for idx := range m.mu.freq {
			if idx < first {
				below++
			}
		}
		m.mu.Unlock()
		if below > 0 || n > keep+2 {
			t.Errorf("ReadOnly %v: admission counts %d chunks, %d of them below the first, %d (want at most %d, none below)",
				m.ReadOnly(), n, below, first, keep+2)
		}
	}
}
