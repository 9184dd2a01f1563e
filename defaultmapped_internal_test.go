package chunkmap

import (
	"math/bits"
	"testing"
)

// TestDefaultMaxMappedRule checks the rule of a zero MaxMapped on 64-bit
// platforms: DefaultMappedBytes of chunks, at least DefaultMaxMapped and
// at most MaxDefaultMapped of them, and no more than the process's budget
// of open files (each mapped chunk keeps its file open).
func TestDefaultMaxMappedRule(t *testing.T) {
	if bits.UintSize == 32 {
		if got := defaultMaxMapped(MinChunkSize, 1<<20); got != DefaultMaxMapped {
			t.Errorf("32-bit, 64 KiB chunks: %d, want %d", got, DefaultMaxMapped)
		}
		if got := defaultMaxMapped(1<<30, 1<<20); got != 1 {
			t.Errorf("32-bit, 1 GiB chunks: %d, want 1", got)
		}
		return
	}
	for _, tc := range []struct {
		chunk, files int64
		want         int
	}{
		{DefaultChunkSize, 1 << 20, 16},
		{MaxChunkSize, 1 << 20, 16}, // 8 would fill 16 GiB: never fewer than 16
		{64 << 20, 1 << 20, 256},
		{16 << 20, 1 << 20, 1024},
		{MinChunkSize, 1 << 20, 1024},
		{MinChunkSize, 256, 256}, // a descriptor limit of 1024
		{MinChunkSize, 16, 16},
		{1 << 30, 16, 16},
	} {
		if got := defaultMaxMapped(tc.chunk, tc.files); got != tc.want {
			t.Errorf("defaultMaxMapped(%d, %d) = %d, want %d", tc.chunk, tc.files, got, tc.want)
		}
	}
}
