package chunkmap_test

// Windows cannot delete a mapped file, so there a chunk deleted (Truncate,
// DropBefore) while a pin or a batch maps it keeps its file until the last
// release. These tests run that path on every platform.

import (
	"errors"
	"io"
	"os"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

func TestDeferredRemove(t *testing.T) {
	defer chunkmap.SetUnmapBeforeRemove(chunkmap.SetUnmapBeforeRemove(true))
	tests := []struct {
		name      string
		scattered bool // pins across chunks are private views
		off       int64
		n         int
		pinned    []int64 // the chunks the pin maps
	}{
		{"in its slot", false, 2*cs + 8, 16, []int64{2}},
		{"in a private view", true, 3*cs - 8, 16, []int64{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer chunkmap.SetScatteredArena(chunkmap.SetScatteredArena(tt.scattered))
			m := evictionDataset(t, 4, nil)
			p, err := m.Pin(tt.off, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			if _, _, views := m.Mappings(); (views > 0) != tt.scattered {
				t.Fatalf("%d chunks in private views, want a view: %v", views, tt.scattered)
			}
			if err := m.Truncate(2 * cs); err != nil {
				t.Fatal(err)
			}
			if got, want := chunkFiles(t, m.Dir()), append([]int64{0, 1}, tt.pinned...); !slices.Equal(got, want) {
				t.Errorf("chunk files while pinned = %v, want %v: a mapped chunk's file goes at its last release", got, want)
			}
			p.Release()
			wantChunkFiles(t, m.Dir(), 0, 2)
		})
	}
}

// TestDeferredRemove_ReadInFlight: a chunk served by pread (not mapped)
// whose file a ReadAt has open when Truncate deletes the chunk. Windows
// cannot delete a file with a handle open for I/O (DeleteFile: "fails if
// an application attempts to delete a file that has other handles open
// for normal I/O"), so there the Truncate failed with ErrIO and left the
// file until the next Open; the file must wait for the read instead, as
// for a pin.
func TestDeferredRemove_ReadInFlight(t *testing.T) {
	defer chunkmap.SetUnmapBeforeRemove(chunkmap.SetUnmapBeforeRemove(true))
	dir := t.TempDir()
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	writeAt(t, m, make([]byte, 4*cs), 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	fsys := &blockReadFS{FS: vfs.OS, idx: 2, entered: make(chan struct{}), release: make(chan struct{})}
	o := chunkmap.Options{ChunkSize: cs, MaxMapped: 1}
	chunkmap.SetFS(&o, fsys)
	m = openTestManager(t, dir, &o)
	// Chunk 0 takes the one mapping; chunk 2, read once, is not worth
	// evicting it for (admission), so its reads are preads.
	var b [8]byte
	if _, err := m.ReadAt(b[:], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(b[:], 2*cs); err != nil || fsys.preads.Load() == 0 {
		t.Fatalf("read of chunk 2: %v after %d preads of it; want a pread", err, fsys.preads.Load())
	}
	fsys.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := m.ReadAt(b[:], 2*cs+8)
		done <- err
	}()
	<-fsys.entered
	terr := m.Truncate(2 * cs)
	got := chunkFiles(t, dir)
	close(fsys.release)
	if err := <-done; err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) && !errors.Is(err, io.EOF) {
		t.Errorf("read overtaken by Truncate: %v", err)
	}
	if terr != nil {
		t.Fatal(terr)
	}
	if want := []int64{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("chunk files while a read has chunk 2 open = %v, want %v: its file goes once the read is done", got, want)
	}
	wantChunkFiles(t, dir, 0, 2)
}

// blockReadFS is vfs.OS, but for a pread of chunk idx once armed: it
// closes entered and waits for release.
type blockReadFS struct {
	vfs.FS
	idx     int64
	armed   atomic.Bool
	preads  atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func (b *blockReadFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := b.FS.OpenFile(name, flag, perm)
	if err != nil || chunkIndexOf(name) != b.idx {
		return f, err
	}
	return &blockReadFile{File: f, fs: b}, nil
}

type blockReadFile struct {
	vfs.File
	fs *blockReadFS
}

func (f *blockReadFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.preads.Add(1)
	if f.fs.armed.Swap(false) {
		close(f.fs.entered)
		<-f.fs.release
	}
	return f.File.ReadAt(p, off)
}
