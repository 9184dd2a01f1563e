package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestWriteAtSmallNoAlloc: ReadAt, WriteAt and Append take a buffer the
// caller may keep on its stack, and must not make it escape: small calls
// on mapped chunks allocate nothing. (A bulk path that handed the buffer
// to other goroutines would make every caller's buffer escape.)
func TestWriteAtSmallNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes the buffers of pread and pwrite escape")
	}
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(4 * cs); err != nil {
		t.Fatal(err)
	}
	i := int64(0)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"WriteAt hit", func() { var b [8]byte; m.WriteAt(b[:], 8) }},
		{"WriteAt across chunks", func() { var b [8]byte; m.WriteAt(b[:], cs-4) }},
		{"WriteAt, each chunk", func() { var b [8]byte; i++; m.WriteAt(b[:], (i%4)*cs+16) }},
		{"ReadAt hit", func() { var b [8]byte; m.ReadAt(b[:], 8) }},
		{"ReadAt, each chunk", func() { var b [8]byte; i++; m.ReadAt(b[:], (i%4)*cs+16) }},
		{"Append", func() { var b [8]byte; m.Append(b[:]) }},
	} {
		for range 4 {
			tc.fn() // map the chunks
		}
		if got := testing.AllocsPerRun(50, tc.fn); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tc.name, got)
		}
	}
}
