//go:build unix

package chunkmap

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// gateFS is the real file system, but for the file at path: its next
// WriteAt, once armed, waits after it starts (entered is closed) until
// release is closed, and its fsyncs are counted.
type gateFS struct {
	vfs.FS
	path    string
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	syncs   atomic.Int64
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil || name != g.path {
		return f, err
	}
	return &gateFile{File: f, g: g}, nil
}

type gateFile struct {
	vfs.File
	g *gateFS
}

func (f *gateFile) WriteAt(p []byte, off int64) (int, error) {
	if f.g.armed.CompareAndSwap(true, false) {
		close(f.g.entered)
		<-f.g.release
	}
	return f.File.WriteAt(p, off)
}

func (f *gateFile) Sync() error {
	f.g.syncs.Add(1)
	return f.File.Sync()
}

// TestEvictAdv_PwriteDuringEvictionIsSynced checks that a pwrite in flight
// when its chunk is mapped and evicted again is fsync'd by the next Sync.
// The eviction keeps the mapping's file in the descriptor cache; the file
// the pwrite uses, cached for it, must not be taken for one of a deleted
// chunk (dead), whose pwrites no Sync fsyncs (markPwriteLocked).
//
// Chunks 0 and 2 share slot 0 of an arena of two: a pin of chunk 0 makes
// the write to chunk 2 a pwrite, which waits inside while chunk 2 is
// pinned (mapped from a file opened by name, as the pwrite's file is in
// use) and then evicted by a pin of chunk 0.
func TestEvictAdv_PwriteDuringEvictionIsSynced(t *testing.T) {
	cs := int64(MinChunkSize)
	for _, tc := range []struct {
		name  string
		chunk int64 // the chunk pwritten; its slot's other chunk is pinned
	}{
		{"chunk 2 beside 0", 2},
		{"chunk 1 beside 3", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			g := &gateFS{FS: vfs.OS, path: filepath.Join(dir, chunk.Name(tc.chunk)),
				entered: make(chan struct{}), release: make(chan struct{})}
			o := &Options{ChunkSize: cs, ArenaSize: 2 * cs}
			SetFS(o, g)
			m, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(bytes.Repeat([]byte{'a'}, int(4*cs)), 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			other := (tc.chunk + 2) % 4 // the same slot
			pin := func(idx int64) *Pinned {
				t.Helper()
				p, err := m.Pin(idx*cs, 8)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			p := pin(other)
			g.armed.Store(true)
			var wg sync.WaitGroup
			var werr error
			wg.Go(func() {
				_, werr = m.WriteAt([]byte("written!"), tc.chunk*cs+64)
			})
			<-g.entered // a pwrite: the slot is held by the other chunk
			p.Release()
			pin(tc.chunk).Release() // maps the chunk from a file of its own
			pin(other).Release()    // evicts it: its file goes to the cache
			close(g.release)
			wg.Wait()
			if werr != nil {
				t.Fatal(werr)
			}
			g.syncs.Store(0)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if n := g.syncs.Load(); n == 0 {
				t.Errorf("Sync after a WriteAt to chunk %d returned fsync'd its file %d times, want 1 or more", tc.chunk, n)
			}
			got := make([]byte, 8)
			if _, err := m.ReadAt(got, tc.chunk*cs+64); err != nil || string(got) != "written!" {
				t.Errorf("read back %q, %v", got, err)
			}
		})
	}
}
