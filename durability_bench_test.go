package chunkmap_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkGrowth measures growing a dataset with 64 KiB chunks by Appends
// of 1 MiB blocks, against writing the same blocks to the end of one
// os.File. Each iteration writes 64 MiB into a fresh dataset (or file);
// b.SetBytes makes the figures throughputs. The cases without "+sync" time
// the writes alone (into the page cache, as a file's writes go), which is
// what chunk creation without an fsync makes fast; those with it include
// making everything durable (Close's Sync; the file's fsync).
func BenchmarkGrowth(b *testing.B) {
	const total, block = 64 << 20, 1 << 20
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	for _, durable := range []bool{false, true} {
		suffix := ""
		if durable {
			suffix = "+sync"
		}
		b.Run("case=chunkmap"+suffix, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				dir := b.TempDir()
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
				if err != nil {
					b.Fatal(err)
				}
				for range total / block {
					if _, err := m.Append(buf); err != nil {
						b.Fatal(err)
					}
				}
				if !durable {
					b.StopTimer()
				}
				if err := m.Close(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
		b.Run("case=osfile"+suffix, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				dir := b.TempDir()
				f, err := os.Create(filepath.Join(dir, "file"))
				if err != nil {
					b.Fatal(err)
				}
				for range total / block {
					if _, err := f.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if !durable {
					b.StopTimer()
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkSyncIdle measures a Sync with nothing to make durable, against
// one fsync of a small file that has not changed: the manifest is not
// rewritten, so the cost is a stat of it.
func BenchmarkSyncIdle(b *testing.B) {
	b.Run("case=chunkmap", func(b *testing.B) {
		m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		if _, err := m.Append(make([]byte, 1<<20)); err != nil {
			b.Fatal(err)
		}
		if err := m.Sync(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := m.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("case=fsync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "file"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A Sync after one small write: one chunk fsync'd, one record written.
	b.Run("case=chunkmap-one-write", func(b *testing.B) {
		m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		if _, err := m.Append(make([]byte, 1<<20)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := m.WriteAt([]byte{1}, 100); err != nil {
				b.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
