//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestFailedBulkWriteLeavesEntriesItDidNotMake checks that a bulk write
// whose growth fails because a later chunk's name is taken by an entry
// that is not a chunk file (a FIFO, a directory, a symbolic link, which
// Open leaves alone past Size) fails with ErrCorrupt, and, giving its
// chunks back, removes the files it created and nothing else: the entry
// is still there, of the same kind; once it is gone, the write succeeds.
func TestFailedBulkWriteLeavesEntriesItDidNotMake(t *testing.T) {
	const head = 5
	writes := []struct {
		name  string
		write func(m *chunkmap.Manager, p []byte) error
	}{
		{"Append", func(m *chunkmap.Manager, p []byte) error { _, err := m.Append(p); return err }},
		{"WriteAt", func(m *chunkmap.Manager, p []byte) error { _, err := m.WriteAt(p, head); return err }},
	}
	entries := []struct {
		name string
		mode fs.FileMode
		make func(path string) error
	}{
		{"FIFO", fs.ModeNamedPipe, func(path string) error { return syscall.Mkfifo(path, 0o644) }},
		{"directory", fs.ModeDir, func(path string) error { return os.Mkdir(path, 0o755) }},
		{"symlink", fs.ModeSymlink, func(path string) error { return os.Symlink("elsewhere", path) }},
	}
	for _, w := range writes {
		for _, e := range entries {
			t.Run(w.name+"/"+e.name, func(t *testing.T) {
				dir := t.TempDir()
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				data := pattern(5, head)
				if _, err := m.Append(data); err != nil {
					t.Fatal(err)
				}
				// Chunk 3 is neither the first chunk the write creates
				// itself nor the last: the maker meets the entry.
				blocked := filepath.Join(dir, chunkName(3))
				if err := e.make(blocked); err != nil {
					t.Fatal(err)
				}
				p := pattern(6, 5*aheadChunk)
				if err := w.write(m, p); !errors.Is(err, chunkmap.ErrCorrupt) {
					t.Fatalf("%s over a %s at chunk 3: %v, want ErrCorrupt", w.name, e.name, err)
				}
				fi, err := os.Lstat(blocked)
				if err != nil {
					t.Fatalf("the failed %s removed the %s it did not make: %v", w.name, e.name, err)
				}
				if fi.Mode().Type() != e.mode {
					t.Fatalf("%s is a %v after the failed %s, want a %s", blocked, fi.Mode().Type(), w.name, e.name)
				}
				if m.Size() != head {
					t.Fatalf("Size %d after the failed %s, want %d", m.Size(), w.name, head)
				}
				if got := regularChunks(t, dir); !slices.Equal(got, []int64{0}) {
					t.Fatalf("chunk files %v after the failed %s, want [0]", got, w.name)
				}
				if err := os.Remove(blocked); err != nil {
					t.Fatal(err)
				}
				if err := w.write(m, p); err != nil {
					t.Fatal(err)
				}
				if got, want := readAll(t, m), append(data, p...); !bytes.Equal(got, want) {
					t.Fatalf("offset %d differs from what was written", firstDiff(got, want))
				}
				wantDatasetFiles(t, m, dir, "after the next "+w.name)
			})
		}
	}
}

// TestFailedGrowBesideFailedBulkWrite runs a Grow while a bulk Append
// writes its first chunk, with chunk 3's name taken by a FIFO: both fail.
// The failed Grow made no promise, so the Append still gives its chunks
// back, and no chunk is owed once it returned; a Truncate then must not
// remove the FIFO, which the library never created.
func TestFailedGrowBesideFailedBulkWrite(t *testing.T) {
	const head = 5
	dir := t.TempDir()
	var once sync.Once
	entered, release := make(chan struct{}), make(chan struct{})
	o := &chunkmap.Options{ChunkSize: aheadChunk}
	chunkmap.SetFS(o, writeHookFS{vfs.OS, func() func() {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	}})
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Where chunks are written whole at creation the Append fails on the
	// FIFO before it writes, and the hook it waits for never runs.
	skipWhereChunksAreFilled(t, m)
	if _, err := m.Append(pattern(5, head)); err != nil { // a small write: no pwrite
		t.Fatal(err)
	}
	blocked := filepath.Join(dir, chunkName(3))
	if err := syscall.Mkfifo(blocked, 0o644); err != nil {
		t.Fatal(err)
	}
	errA := make(chan error, 1)
	go func() { _, err := m.Append(pattern(6, 5*aheadChunk)); errA <- err }()
	<-entered
	errG := m.Grow(aheadChunk)
	close(release)
	if err := <-errA; !errors.Is(err, chunkmap.ErrCorrupt) {
		t.Fatalf("bulk Append over a FIFO at chunk 3: %v, want ErrCorrupt", err)
	}
	if !errors.Is(errG, chunkmap.ErrCorrupt) {
		t.Fatalf("Grow beside it: %v, want ErrCorrupt", errG)
	}
	if err := m.Truncate(head - 2); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(blocked); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		t.Fatalf("after the failed Append and Grow and a Truncate, the FIFO at chunk 3: %v, %v", fi, err)
	}
	if got := regularChunks(t, dir); !slices.Equal(got, []int64{0}) {
		t.Fatalf("chunk files %v, want [0]", got)
	}
}
