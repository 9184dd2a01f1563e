package chunkmap

import (
	"math/bits"
	"testing"
)

// TestDefaultMaxMappedRule checks the rule of a zero MaxMapped on 64-bit
// platforms: DefaultMappedBytes of chunks, at least DefaultMaxMapped and
// at most MaxDefaultMapped of them, and no more than the process's budget
// of open files (each mapped chunk keeps its file open); and, where the
// memory the process may fill is known, no more chunks than half of it
// holds, at least one, whatever the other bounds say.
func TestDefaultMaxMappedRule(t *testing.T) {
	if bits.UintSize == 32 {
		for _, tc := range []struct {
			chunk, mem int64
			want       int
		}{
			{MinChunkSize, 0, DefaultMaxMapped},
			{1 << 30, 0, 1},
			{64 << 20, 0, 16},
			{64 << 20, 256 << 20, 2},
			{64 << 20, 64 << 20, 1},
		} {
			if got := defaultMaxMapped(tc.chunk, 1<<20, tc.mem); got != tc.want {
				t.Errorf("32-bit: defaultMaxMapped(%d, 1<<20, %d) = %d, want %d", tc.chunk, tc.mem, got, tc.want)
			}
		}
		return
	}
	for _, tc := range []struct {
		chunk, files, mem int64
		want              int
	}{
		{DefaultChunkSize, 1 << 20, 0, 16},
		{MaxChunkSize, 1 << 20, 0, 16}, // 8 would fill 16 GiB: never fewer than 16 for the other bounds
		{64 << 20, 1 << 20, 0, 256},
		{16 << 20, 1 << 20, 0, 1024},
		{MinChunkSize, 1 << 20, 0, 1024},
		{MinChunkSize, 256, 0, 256}, // a descriptor limit of 1024
		{MinChunkSize, 16, 0, 16},
		{1 << 30, 16, 0, 16},
		// A descriptor limit of 40: the Managers' share of descriptors,
		// not MaxMapped, keeps fewer mapped (fileMapBudget), following
		// the limit if the program raises it.
		{MinChunkSize, 10, 0, 16},
		// Memory: half of it in chunks, at least one.
		{DefaultChunkSize, 1 << 20, 64 << 30, 16}, // 32 GiB would hold more
		{DefaultChunkSize, 1 << 20, 24 << 30, 12}, // a machine of 24 GiB
		{MaxChunkSize, 1 << 20, 24 << 30, 6},      // below DefaultMaxMapped
		{64 << 20, 1 << 20, 256 << 20, 2},         // a cgroup of 256 MiB
		{64 << 20, 1 << 20, 200 << 20, 1},         // 100 MiB holds one
		{DefaultChunkSize, 1 << 20, 256 << 20, 1}, // never zero
		{MinChunkSize, 1 << 20, 256 << 20, 1024},  // 2,048 would fit: the chunk bound holds
		{MinChunkSize, 1 << 20, 16 << 20, 128},    // a cgroup of 16 MiB
		{MinChunkSize, 256, 1 << 40, 256},         // descriptors still bound
	} {
		if got := defaultMaxMapped(tc.chunk, tc.files, tc.mem); got != tc.want {
			t.Errorf("defaultMaxMapped(%d, %d, %d) = %d, want %d", tc.chunk, tc.files, tc.mem, got, tc.want)
		}
	}
}
