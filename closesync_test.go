package chunkmap_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// syncCountFS is the operating system's file system, counting the fsyncs
// of each chunk file by name.
type syncCountFS struct {
	vfs.FS
	mu     *sync.Mutex
	synced map[string]int
}

func (f syncCountFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".chunk") {
		return file, err
	}
	return syncCountFile{file, f, filepath.Base(name)}, nil
}

type syncCountFile struct {
	vfs.File
	fs   syncCountFS
	name string
}

func (f syncCountFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.synced[f.name]++
	f.fs.mu.Unlock()
	return f.File.Sync()
}

// TestClose_FsyncsOnlyStoredChunks: the Sync of a read-write Close fsyncs
// the mapped chunks stored to since the last Sync, not every mapped one;
// also after an atomic store found its chunk clean (a store that marks its
// chunk after it left the slot, which Close cannot wait for: see lateBit),
// which marks only its own chunk's slot.
func TestClose_FsyncsOnlyStoredChunks(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, atomicStore := range []bool{false, true} {
		name := "writes"
		if atomicStore {
			name = "atomic"
		}
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			fsys := syncCountFS{vfs.OS, &mu, map[string]int{}}
			o := &chunkmap.Options{ChunkSize: cs, MaxMapped: 8, NoAdmission: true}
			chunkmap.SetFS(o, fsys)
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(pattern(1, 4*cs), 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			for i := range int64(4) { // every chunk mapped, clean
				if _, err := m.ReadAt(make([]byte, 8), i*cs); err != nil {
					t.Fatal(err)
				}
			}
			// Chunk 1 stored to through its mapping (the first writes
			// after a Sync may go by pwrite: see cleanWrites), chunk 2
			// by pwrite at least.
			for range 40 {
				if _, err := m.WriteAt([]byte{7}, cs+100); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := m.WriteAt([]byte{8}, 2*cs+100); err != nil {
				t.Fatal(err)
			}
			if atomicStore {
				if err := m.StoreUint64(3*cs+64, 9); err != nil {
					t.Fatal(err)
				}
			}
			if st := m.Stats(); st.Mapped != 4 {
				t.Fatalf("%d chunks mapped, want 4", st.Mapped)
			}
			mu.Lock()
			clear(fsys.synced)
			mu.Unlock()
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			want := []int64{1, 2}
			if atomicStore {
				want = []int64{1, 2, 3}
			}
			for i := range int64(4) {
				got := fsys.synced[filepath.Base(chunkName(i))] > 0
				if got != (i >= want[0] && i <= want[len(want)-1]) {
					t.Errorf("chunk %d fsync'd by Close: %v; want only chunks %v", i, got, want)
				}
			}
			// What was written is there.
			m2, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			var b [1]byte
			if _, err := m2.ReadAt(b[:], cs+100); err != nil || b[0] != 7 {
				t.Fatalf("byte at cs+100 = %d, %v; want 7", b[0], err)
			}
		})
	}
}
