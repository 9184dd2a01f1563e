package chunkmap_test

import (
	"math/bits"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestDefaultMaxMapped_SmallChunks: a zero MaxMapped meant 16 chunks
// whatever their size, so a dataset of small chunks kept a window of a few
// MiB mapped (1 MiB of 64 KiB chunks) and random reads over a dataset a
// single mapping would cover went to pread. Now it means 16 GiB of chunks
// within [16, 1024]: every one of 64 chunks of 64 KiB that is read stays
// mapped, and none is evicted.
func TestDefaultMaxMapped_SmallChunks(t *testing.T) {
	if bits.UintSize == 32 {
		t.Skip("32-bit platforms keep DefaultMaxMapped chunks (see Options.MaxMapped)")
	}
	const chunks = 64
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs})
	writeAt(t, m, make([]byte, chunks*cs), 0)
	for pass := range 3 {
		for k := range int64(chunks) {
			// A chunk's first miss may be served by pread (admission):
			// by the third pass each has missed enough to be mapped.
			readAt(t, m, k*cs+int64(pass), 1)
		}
	}
	if s := m.Stats(); s.Mapped != chunks || s.Evictions != 0 {
		t.Fatalf("after reading each of %d chunks of 64 KiB three times with the default MaxMapped: Mapped %d, Evictions %d; want %d, 0",
			chunks, s.Mapped, s.Evictions, chunks)
	}
}
