package chunkmap_test

import (
	"runtime"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestFileIONoAlloc: the calls that go to the chunk files with pread or
// pwrite (growth by a few pages, the first small writes after a Sync,
// misses under admission) allocate nothing either, where they create no
// chunk file: the check of a chunk
// file's size before each pwrite asks fstat without a FileInfo.
func TestFileIONoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes the buffers of pread and pwrite escape")
	}
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(64 * cs); err != nil {
		t.Fatal(err)
	}
	// Appends within chunks Grow made create no file, whose making allocates.
	if err := m.Grow(16 * cs); err != nil {
		t.Fatal(err)
	}
	var page [16 << 10]byte
	i := int64(0)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Append 16 KiB", func() { m.Append(page[:]) }},
		{"ReadAt 4 KiB, each chunk", func() { i++; m.ReadAt(page[:4<<10], (i%64)*cs) }},
		{"WriteAt 4 KiB, each chunk", func() { i++; m.WriteAt(page[:4<<10], (i%64)*cs) }},
	} {
		for range 4 {
			tc.fn()
		}
		if got := testing.AllocsPerRun(50, tc.fn); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tc.name, got)
		}
	}

	// The first small write to a chunk after a Sync, which Sync's own
	// allocations must not be counted with.
	var before, after runtime.MemStats
	var mallocs uint64
	const rounds = 50
	for k := range rounds {
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&before)
		if _, err := m.WriteAt(page[:4<<10], int64(k%8)*cs+100); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
	}
	if mallocs > 0 {
		t.Errorf("WriteAt 4 KiB after Sync: %d allocations in %d calls, want none", mallocs, rounds)
	}
}
