package chunkmap_test

import (
	"bytes"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkFollowMiss measures a following reader whose every read maps a
// chunk (MaxMapped 1, two chunks read in turn): the cost of a follower's
// checks on a miss, against a writer's miss.
func BenchmarkFollowMiss(b *testing.B) {
	const cs = chunkmap.MinChunkSize
	dir := b.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(bytes.Repeat([]byte{1}, 2*cs), 0); err != nil {
		b.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		name := "writer"
		if ro {
			name = "follower"
		}
		b.Run(name, func(b *testing.B) {
			var m *chunkmap.Manager
			if ro {
				r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1, NoAdmission: true})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				m = r
			} else {
				m2dir := b.TempDir()
				m2, err := chunkmap.Open(m2dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
				if err != nil {
					b.Fatal(err)
				}
				defer m2.Close()
				if _, err := m2.WriteAt(bytes.Repeat([]byte{1}, 2*cs), 0); err != nil {
					b.Fatal(err)
				}
				m = m2
			}
			p := make([]byte, 8)
			i := 0
			for b.Loop() {
				if _, err := m.ReadAt(p, int64(i&1)*cs); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkHit measures reads and writes that hit a mapped chunk.
func BenchmarkHit(b *testing.B) {
	const cs = chunkmap.MinChunkSize
	dir := b.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(bytes.Repeat([]byte{1}, 2*cs), 0); err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 8)
	b.Run("write", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			w.WriteAt(p, int64(i&1023)*8)
		}
	})
	b.Run("read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			w.ReadAt(p, int64(i&1023)*8)
		}
	})
}
