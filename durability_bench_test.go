package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkGrowth measures growing a dataset with 64 KiB chunks by Appends
// of 1 MiB blocks, against writing the same blocks to the end of one
// os.File, and against the least any design with a file per chunk can do
// (filefloor). Each iteration writes 64 MiB into a fresh dataset (or file);
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
	// Each target opens its file or dataset in dir and returns how to
	// write a block to its end and how to finish (make durable and close).
	targets := []struct {
		name string
		open func(dir string) (write func([]byte) error, finish func() error, err error)
	}{
		{"chunkmap", func(dir string) (func([]byte) error, func() error, error) {
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
			if err != nil {
				return nil, nil, err
			}
			return func(p []byte) error { _, err := m.Append(p); return err }, m.Close, nil
		}},
		{"osfile", func(dir string) (func([]byte) error, func() error, error) {
			f, err := os.Create(filepath.Join(dir, "file"))
			if err != nil {
				return nil, nil, err
			}
			return func(p []byte) error { _, err := f.Write(p); return err },
				func() error { return errors.Join(f.Sync(), f.Close()) }, nil
		}},
		// The least a file per chunk costs: each 64 KiB piece written to a
		// file of its own, created and closed, with no allocation ahead,
		// no check of the file and no record of it; finishing fsyncs every
		// file and the directory, as Close's Sync does.
		{"filefloor", func(dir string) (func([]byte) error, func() error, error) {
			n := 0
			write := func(p []byte) error {
				for ; len(p) > 0; n++ {
					piece := p[:min(len(p), chunkmap.MinChunkSize)]
					f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(n)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
					if err != nil {
						return err
					}
					_, err = f.Write(piece)
					if err = errors.Join(err, f.Close()); err != nil {
						return err
					}
					p = p[len(piece):]
				}
				return nil
			}
			finish := func() error {
				for i := range n {
					f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(i)), os.O_RDWR, 0)
					if err != nil {
						return err
					}
					if err := errors.Join(f.Sync(), f.Close()); err != nil {
						return err
					}
				}
				d, err := os.Open(dir)
				if err != nil {
					return err
				}
				return errors.Join(d.Sync(), d.Close())
			}
			return write, finish, nil
		}},
	}
	parent := b.TempDir()
	for _, durable := range []bool{false, true} {
		suffix := ""
		if durable {
			suffix = "+sync"
		}
		for _, tc := range targets {
			b.Run("case="+tc.name+suffix, func(b *testing.B) {
				b.SetBytes(total)
				for b.Loop() {
					dir, err := os.MkdirTemp(parent, "growth-")
					if err != nil {
						b.Fatal(err)
					}
					write, finish, err := tc.open(dir)
					if err != nil {
						b.Fatal(err)
					}
					for range total / block {
						if err := write(buf); err != nil {
							b.Fatal(err)
						}
					}
					if !durable {
						b.StopTimer()
					}
					if err := finish(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := os.RemoveAll(dir); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
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

// BenchmarkSyncMany measures a Sync that makes many chunks durable: every
// one of 1,024 chunks of 64 KiB (64 MiB) rewritten since the last Sync.
// Only the Sync is timed. Against it: the same 1,024 files fsync'd one
// after another (files-serial, which is what a Sync that does not overlap
// its fsyncs costs at the least), and one file of 64 MiB rewritten and
// fsync'd once (onefile). On a file system with a journal the gap between
// chunkmap and files-serial is what overlapping the fsyncs buys; on tmpfs,
// where an fsync does nothing, the three are close.
func BenchmarkSyncMany(b *testing.B) {
	const nchunks, size = 1024, chunkmap.MinChunkSize
	page := make([]byte, size)
	b.Run("case=chunkmap", func(b *testing.B) {
		m, err := chunkmap.Open(b.TempDir(), &chunkmap.Options{ChunkSize: size})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		if err := m.Grow(nchunks * size); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			b.StopTimer()
			page[0]++
			for i := range int64(nchunks) {
				if _, err := m.WriteAt(page, i*size); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if err := m.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("case=files-serial", func(b *testing.B) {
		dir := b.TempDir()
		files := make([]*os.File, nchunks)
		for i := range files {
			f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			files[i] = f
		}
		for b.Loop() {
			b.StopTimer()
			page[0]++
			for _, f := range files {
				if _, err := f.WriteAt(page, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			for _, f := range files {
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("case=onefile", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "file"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			b.StopTimer()
			page[0]++
			for i := range int64(nchunks) {
				if _, err := f.WriteAt(page, i*size); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
