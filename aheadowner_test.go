package chunkmap_test

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// chunkGateFS holds every write to the chunk files it has a gate for until the
// gate opens (for up to a minute), and reports on entered that such a
// write has begun.
type chunkGateFS struct {
	vfs.FS
	gates   map[int64]chan struct{}
	entered map[int64]chan struct{}
	once    map[int64]*sync.Once
}

func newChunkGateFS(base vfs.FS, idxs ...int64) *chunkGateFS {
	g := &chunkGateFS{FS: base, gates: map[int64]chan struct{}{}, entered: map[int64]chan struct{}{}, once: map[int64]*sync.Once{}}
	for _, idx := range idxs {
		g.gates[idx] = make(chan struct{})
		g.entered[idx] = make(chan struct{})
		g.once[idx] = new(sync.Once)
	}
	return g
}

func (g *chunkGateFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil {
		return f, err
	}
	if _, ok := g.gates[chunkIndexOf(name)]; !ok {
		return f, nil
	}
	return &chunkGateFile{File: f, g: g, idx: chunkIndexOf(name)}, nil
}

// open opens the gate of chunk idx.
func (g *chunkGateFS) open(idx int64) { close(g.gates[idx]) }

// await waits until a write to chunk idx has begun, failing t after a
// minute.
func (g *chunkGateFS) await(t *testing.T, idx int64) {
	t.Helper()
	select {
	case <-g.entered[idx]:
	case <-time.After(time.Minute):
		t.Fatalf("no write to chunk %d began within a minute", idx)
	}
}

type chunkGateFile struct {
	vfs.File
	g   *chunkGateFS
	idx int64
}

func (f *chunkGateFile) WriteAt(p []byte, off int64) (int, error) {
	f.g.once[f.idx].Do(func() { close(f.g.entered[f.idx]) })
	select {
	case <-f.g.gates[f.idx]:
	case <-time.After(time.Minute):
	}
	return f.File.WriteAt(p, off)
}

// TestBulkWriteIgnoresALaterGrowthsOwedChunk checks that a bulk write past
// Size whose growth owed chunks, and whose bytes are all written, does not
// fail because a later claim's growth (an Append's, still being written)
// owes a chunk whose file cannot be created: that chunk is the later
// write's, which fails for it, and the first write returns nil, its bytes
// in the dataset.
func TestBulkWriteIgnoresALaterGrowthsOwedChunk(t *testing.T) {
	faulty := vfstest.NewFaulty(nil)
	g := newChunkGateFS(faulty, 5, 6)
	m, dir := openOnFS(t, g)
	skipWhereChunksAreFilled(t, m)
	head := pattern(1, 100)
	if _, err := m.Append(head); err != nil {
		t.Fatal(err)
	}
	// The WriteAt grows the dataset to 6 chunks: it creates chunk 1, owes
	// 2 to 5, and its write to chunk 5 is held.
	p := pattern(2, aheadChunk)
	type result struct {
		n   int
		err error
	}
	first := make(chan result, 1)
	go func() {
		n, err := m.WriteAt(p, 5*aheadChunk)
		first <- result{n, err}
	}()
	g.await(t, 5)
	// The Append grows it to 9: its growth settles 2 to 5, creates 6 and
	// owes 7 and 8, whose file cannot be created; its write to chunk 6 is
	// held.
	r := faulty.Add(failOpen(8, 0))
	q := pattern(3, 3*aheadChunk)
	second := make(chan error, 1)
	go func() {
		_, err := m.Append(q)
		second <- err
	}()
	g.await(t, 6)
	g.open(5)
	var res result
	select {
	case res = <-first:
	case <-time.After(time.Minute):
		t.Fatal("the WriteAt did not return within a minute")
	}
	if res.err != nil || res.n != len(p) {
		t.Errorf("WriteAt whose bytes are all written, beside an Append that owes an uncreatable chunk 8: %d, %v; want %d, nil", res.n, res.err, len(p))
	}
	g.open(6)
	select {
	case err := <-second:
		if !errors.Is(err, chunkmap.ErrNoSpace) {
			t.Errorf("Append needing chunk 8, which cannot be created: %v, want ErrNoSpace", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the Append did not return within a minute")
	}
	faulty.Disarm(r)
	if m.Size() != 6*aheadChunk {
		t.Fatalf("Size %d, want %d", m.Size(), 6*aheadChunk)
	}
	got := make([]byte, len(p))
	if _, err := m.ReadAt(got, 5*aheadChunk); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, p); i >= 0 {
		t.Fatalf("offset %d of the WriteAt reads back different bytes", 5*aheadChunk+i)
	}
	wantDatasetFiles(t, m, dir, "after both writes")
}
