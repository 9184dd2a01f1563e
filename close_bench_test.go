package chunkmap_test

import (
	"strconv"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkClose measures an Open, a read of the first byte of each of
// mapped chunks (each read maps its chunk), and the Close that unmaps
// them, of a dataset of 32 chunks of 64 KiB, read-only and read-write.
// Only the Close is timed; nothing was written, so what it costs beyond
// its own calls is emptying the arena's slots (and, read-write, the final
// Sync: see dropLocked).
func BenchmarkClose(b *testing.B) {
	const nchunks = 32
	dir := benchChunks(b, nchunks)
	for _, mapped := range []int{1, 16} {
		for _, ro := range []bool{true, false} {
			b.Run("mapped="+strconv.Itoa(mapped)+"/ro="+strconv.FormatBool(ro), func(b *testing.B) {
				var p [1]byte
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: ro, NoAdmission: true, MaxMapped: nchunks})
					if err != nil {
						b.Fatal(err)
					}
					for i := range mapped {
						if _, err := m.ReadAt(p[:], int64(i)*chunkmap.MinChunkSize); err != nil {
							b.Fatal(err)
						}
					}
					if st := m.Stats(); st.Mapped != mapped {
						b.Fatalf("%d chunks mapped, want %d", st.Mapped, mapped)
					}
					b.StartTimer()
					if err := m.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen measures an Open of a dataset of nchunks chunks of 64 KiB,
// read-only and read-write, a read of its first byte, and its Close: what a
// program that opens a dataset for one look pays. A read-write Open takes
// the lock, reads the manifest and maps its state page, lists the
// directory and checks each chunk file; a ReadOnly one takes no lock but
// checks the chunks the writer's state page names.
func BenchmarkOpen(b *testing.B) {
	for _, nchunks := range []int{1, 64} {
		dir := benchChunks(b, nchunks)
		for _, ro := range []bool{true, false} {
			b.Run("chunks="+strconv.Itoa(nchunks)+"/ro="+strconv.FormatBool(ro), func(b *testing.B) {
				var p [1]byte
				b.ReportAllocs()
				for b.Loop() {
					m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: ro})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := m.ReadAt(p[:], 0); err != nil {
						b.Fatal(err)
					}
					if err := m.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchChunks returns the directory of a new dataset of nchunks whole
// chunks of 64 KiB, closed.
func benchChunks(b *testing.B, nchunks int) string {
	b.Helper()
	dir := b.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Append(make([]byte, nchunks*chunkmap.MinChunkSize)); err != nil {
		b.Fatal(err)
	}
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}
