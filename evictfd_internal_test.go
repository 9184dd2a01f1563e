//go:build unix

package chunkmap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// chunkOpenFS is the real file system, counting the opens of chunk files
// and the fsyncs of each.
type chunkOpenFS struct {
	vfs.FS
	opens  atomic.Int64
	mu     sync.Mutex
	fsyncs map[string]int // by base name
}

func (c *chunkOpenFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if !strings.HasSuffix(name, ".chunk") {
		return c.FS.OpenFile(name, flag, perm)
	}
	c.opens.Add(1)
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncCountFile{File: f, c: c}, nil
}

// synced returns how many times the chunk file of index idx was fsync'd.
func (c *chunkOpenFS) synced(idx int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fsyncs[chunk.Name(idx)]
}

type syncCountFile struct {
	vfs.File
	c *chunkOpenFS
}

func (f *syncCountFile) Sync() error {
	f.c.mu.Lock()
	if f.c.fsyncs == nil {
		f.c.fsyncs = make(map[string]int)
	}
	f.c.fsyncs[filepath.Base(f.Name())]++
	f.c.mu.Unlock()
	return f.File.Sync()
}

// fillChunks writes chunk i of m (for i < n) full of the byte fill+i.
func fillChunks(t *testing.T, m *Manager, n int, fill byte) {
	t.Helper()
	cs := int(m.ChunkSize())
	for i := range n {
		if _, err := m.WriteAt(bytes.Repeat([]byte{fill + byte(i)}, cs), int64(i*cs)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEvict_RemapKeepsTheFile checks that a chunk evicted and mapped again
// is mapped from the file its eviction kept open, not opened again by name:
// with MaxMapped 1 and reads alternating between two chunks, every read
// evicts, and the two chunk files are opened once each. The bytes read are
// the chunks' own, and Close leaves no file of the dataset open.
func TestEvict_RemapKeepsTheFile(t *testing.T) {
	byRole(t, func(t *testing.T, ro bool) {
		dir := t.TempDir()
		w := openWriter(t, dir)
		fillChunks(t, w, 2, 'a')
		m := w
		c := &chunkOpenFS{FS: vfs.OS}
		o := &Options{MaxMapped: 1, NoAdmission: true, ReadOnly: ro}
		SetFS(o, c)
		if ro {
			r, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			m = r
		} else {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var err error
			if m, err = Open(dir, o); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { m.Close() }) // a second Close is harmless
		const rounds = 50
		ev0 := m.Stats().Evictions
		for i := range 2 * rounds {
			idx := i % 2
			wantRead(t, m, int64(idx)*m.ChunkSize()+int64(i*8), 8, 'a'+byte(idx), "read")
		}
		if ev := m.Stats().Evictions - ev0; ev < 2*rounds-1 {
			t.Fatalf("%d evictions in %d alternating reads with MaxMapped 1, want at least %d", ev, 2*rounds, 2*rounds-1)
		}
		if n := c.opens.Load(); n > 2 {
			t.Errorf("chunk files opened %d times for 2 chunks evicted and mapped %d times: an evicted chunk's file is not kept", n, 2*rounds)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if ro {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if n := fdsUnder(t, dir); n != 0 {
			t.Errorf("after Close: %d descriptors still open on files of the dataset", n)
		}
	})
}

// TestEvict_KeptFileNotOfADeletedChunk checks that the file an eviction
// kept is never mapped once its chunk was deleted and made anew: by the
// writer's own Truncate and growth, and, for a follower, by its writer's.
// Mapping the kept file would read the deleted chunk's bytes.
func TestEvict_KeptFileNotOfADeletedChunk(t *testing.T) {
	byRole(t, func(t *testing.T, ro bool) {
		dir := t.TempDir()
		w, err := Open(dir, &Options{ChunkSize: MinChunkSize, MaxMapped: 1, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		fillChunks(t, w, 2, 'a')
		m := w
		if ro {
			if m, err = Open(dir, &Options{ReadOnly: true, MaxMapped: 1, NoAdmission: true}); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
		}
		cs := m.ChunkSize()
		wantRead(t, m, cs, 8, 'b', "chunk 1")   // maps chunk 1
		wantRead(t, m, 0, 8, 'a', "chunk 0")    // evicts it: its file is kept
		wantRead(t, m, cs+8, 8, 'b', "chunk 1") // mapped again from the kept file
		wantRead(t, m, 8, 8, 'a', "chunk 0")    // kept again
		if err := w.Truncate(cs); err != nil {  // deletes chunk 1's file
			t.Fatal(err)
		}
		if _, err := w.WriteAt(bytes.Repeat([]byte{'z'}, int(cs)), cs); err != nil { // a new file
			t.Fatal(err)
		}
		wantRead(t, m, cs, int(cs), 'z', "chunk 1 after it was deleted and written anew")
		wantRead(t, m, 0, 8, 'a', "chunk 0")
		wantRead(t, m, cs+16, 8, 'z', "chunk 1 mapped again")
	})
}

// TestEvict_SyncThroughKeptFiles checks that Sync fsyncs evicted dirty
// chunks through the files their evictions kept, opening none by name, and
// still reports a file another program put under a chunk's name since the
// writes (they went to the file that was there before): the kept file is
// then not the one under the name.
func TestEvict_SyncThroughKeptFiles(t *testing.T) {
	dir := t.TempDir()
	c := &chunkOpenFS{FS: vfs.OS}
	o := &Options{ChunkSize: MinChunkSize, MaxMapped: 1, NoAdmission: true}
	SetFS(o, c)
	m, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, 4*MinChunkSize), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	// Each store maps its chunk, evicting the one before, dirty.
	for i := range int64(4) {
		if err := m.StoreUint64(i*MinChunkSize+64, uint64(i)+1); err != nil {
			t.Fatal(err)
		}
	}
	opens := c.opens.Load()
	before := [4]int{}
	for i := range before {
		before[i] = c.synced(int64(i))
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := c.opens.Load() - opens; n != 0 {
		t.Errorf("Sync opened %d chunk files by name; the evicted chunks' files were kept open", n)
	}
	for i := range int64(4) {
		if c.synced(i) == before[i] {
			t.Errorf("Sync did not fsync chunk %d, written since the last Sync", i)
		}
	}

	// Chunk 1 is evicted and dirty again; another program then puts a
	// copy of its file under its name.
	if err := m.StoreUint64(MinChunkSize+72, 9); err != nil {
		t.Fatal(err)
	}
	if err := m.StoreUint64(3*MinChunkSize+72, 9); err != nil { // evicts chunk 1
		t.Fatal(err)
	}
	ReplaceChunkFile(t, dir, 1)
	if err := m.Sync(); !errors.Is(err, ErrFault) || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Sync after another program replaced a dirty chunk's file = %v, want ErrFault naming the replacement", err)
	}
}

// fdsUnder returns how many descriptors the process has open on files under
// dir.
func fdsUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(strings.TrimSuffix(l, " (deleted)"), dir+"/") {
			n++
		}
	}
	return n
}

// byRole runs f as a subtest for a writer (ro false) and for a follower.
func byRole(t *testing.T, f func(t *testing.T, ro bool)) {
	t.Helper()
	for _, ro := range []bool{false, true} {
		name := "writer"
		if ro {
			name = "follower"
		}
		t.Run(name, func(t *testing.T) { f(t, ro) })
	}
}

// TestEvict_SyncKeptFileNotTheWrittenOne checks Sync where the file the
// descriptor cache holds is the one under the chunk's name, but the writes
// since the last Sync went to an earlier file that another program
// replaced: the chunk was stored to and evicted, its file replaced, and the
// new file mapped (clean) and evicted in turn, so the cache holds it. An
// fsync of the cached file would acknowledge writes that are lost; Sync
// must report them.
func TestEvict_SyncKeptFileNotTheWrittenOne(t *testing.T) {
	dir := t.TempDir()
	c := &chunkOpenFS{FS: vfs.OS}
	o := &Options{ChunkSize: MinChunkSize, MaxMapped: 1, NoAdmission: true}
	SetFS(o, c)
	m, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, 2*MinChunkSize), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.StoreUint64(MinChunkSize+64, 7); err != nil { // chunk 1, dirty
		t.Fatal(err)
	}
	wantRead(t, m, 0, 8, 0, "chunk 0, which evicts chunk 1") // chunk 1's file kept
	ReplaceChunkFile(t, dir, 1)
	// The cache's file of chunk 1 is no longer under its name: the next
	// mapping opens the new one, and the eviction after keeps that.
	wantRead(t, m, MinChunkSize+8, 8, 0, "chunk 1's new file")
	wantRead(t, m, 8, 8, 0, "chunk 0, which evicts chunk 1 again")
	m.mu.Lock()
	e := m.mu.fds[1]
	m.mu.Unlock()
	if e == nil {
		t.Fatal("chunk 1's new file is not cached after its eviction")
	}
	opens := c.opens.Load()
	err = m.Sync()
	if !errors.Is(err, ErrFault) || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Sync of writes to a replaced file, the new one cached = %v, want ErrFault naming the replacement", err)
	}
	if n := c.opens.Load() - opens; n != 0 {
		t.Errorf("Sync opened %d chunk files: the cached one is the file under the name, and settles it", n)
	}
}
