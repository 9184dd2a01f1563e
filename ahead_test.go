package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// aheadChunk is the chunk size of these tests: the smallest, with which a
// bulk write spans many chunks.
const aheadChunk = chunkmap.MinChunkSize

// wantDatasetFiles checks that dir holds exactly the chunk files of m's
// chunks: none made ahead of need, none missing.
func wantDatasetFiles(t *testing.T, m *chunkmap.Manager, dir, when string) {
	t.Helper()
	first := m.Start() / aheadChunk
	got := chunkFiles(t, dir)
	if want := span(first, first+int64(m.Stats().Chunks)); !slices.Equal(got, want) {
		t.Fatalf("%s: chunk files %v, want %v (Stats.Chunks %d)", when, got, want, m.Stats().Chunks)
	}
}

// overlapFS holds back the creation of chunk files from index 2 on until
// chunk 0 has been written, for up to a minute: a write that creates all
// its chunk files before it writes the first waits out the minute (once:
// the creations after it go on).
type overlapFS struct {
	vfs.FS
	written chan struct{} // closed at chunk 0's first write, or after the minute
	once    sync.Once
	waited  atomic.Bool // a creation waited out the minute
}

func (o *overlapFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if flag&os.O_CREATE != 0 && chunkIndexOf(name) >= 2 {
		select {
		case <-o.written:
		case <-time.After(time.Minute):
			o.waited.Store(true)
			o.once.Do(func() { close(o.written) })
		}
	}
	f, err := o.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &overlapFile{File: f, o: o}, nil
}

type overlapFile struct {
	vfs.File
	o *overlapFS
}

func (f *overlapFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if chunkIndexOf(f.Name()) == 0 {
		f.o.once.Do(func() { close(f.o.written) })
	}
	return n, err
}

// writeHookFS calls onWrite before every write to a chunk file, and the
// function it returns, if not nil, after it.
type writeHookFS struct {
	vfs.FS
	onWrite func() (after func())
}

func (f writeHookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || chunkIndexOf(name) < 0 {
		return file, err
	}
	return writeHookFile{file, f.onWrite}, nil
}

type writeHookFile struct {
	vfs.File
	onWrite func() func()
}

func (f writeHookFile) WriteAt(p []byte, off int64) (int, error) {
	if after := f.onWrite(); after != nil {
		defer after()
	}
	return f.File.WriteAt(p, off)
}

// skipWhereChunksAreFilled skips t where m writes every new chunk whole as
// it creates it (a file system without fallocate, such as ext2): there a
// bulk write creates its chunks itself, one after the other, and nothing
// is made in the background.
func skipWhereChunksAreFilled(t *testing.T, m *chunkmap.Manager) {
	t.Helper()
	if chunkmap.FillsChunks(m) {
		t.Skip("the file system cannot allocate a range: chunks are written whole at creation, and growth is not pipelined with a bulk write")
	}
}

// TestBulkWriteCreatesChunksWhileItWrites checks that a bulk Append writes
// its first chunk while the files of the others are still to be created
// (the creation is pipelined with the writing), that the data reads back,
// and that no file is left made ahead of need.
func TestBulkWriteCreatesChunksWhileItWrites(t *testing.T) {
	fsys := &overlapFS{FS: vfs.OS, written: make(chan struct{})}
	m, dir := openOnFS(t, fsys)
	skipWhereChunksAreFilled(t, m)
	data := pattern(1, 8*aheadChunk)
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if fsys.waited.Load() {
		t.Fatal("the files of chunks 2 to 7 were created before chunk 0 was written: growth did not overlap the write")
	}
	if got := readAll(t, m); !bytes.Equal(got, data) {
		t.Fatal("the data read back differs")
	}
	wantDatasetFiles(t, m, dir, "after the Append")
}

// failOpen returns a rule failing the opening (the creation included) of
// chunk idx's file with the system's error for a full disk (ENOSPC;
// ERROR_DISK_FULL on Windows), times times (0: every time).
func failOpen(idx int64, times int) vfstest.Rule {
	return vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, chunkName(idx)), Err: chunkmap.SpaceErrno, Times: times}
}

// chunkName is the file name of chunk idx.
func chunkName(idx int64) string { return fmt.Sprintf("%016x.chunk", idx) }

// makerFirstFS holds the writes to chunk 0 until the creation of chunk idx
// has been tried (for up to a minute): a write held in its first chunk
// takes over none of the others, so the maker tries it.
type makerFirstFS struct {
	vfs.FS
	idx   int64
	tried chan struct{}
	once  sync.Once
}

func (g *makerFirstFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if flag&os.O_CREATE != 0 && chunkIndexOf(name) == g.idx {
		g.once.Do(func() { close(g.tried) })
	}
	if err != nil || chunkIndexOf(name) != 0 {
		return f, err
	}
	return &heldFile{File: f, g: g}, nil
}

type heldFile struct {
	vfs.File
	g *makerFirstFS
}

func (f *heldFile) WriteAt(p []byte, off int64) (int, error) {
	select {
	case <-f.g.tried:
	case <-time.After(time.Minute):
	}
	return f.File.WriteAt(p, off)
}

// TestBulkWriteRetriesAChunkItsMakerFailed checks that a chunk whose
// creation failed in the background is created again by the write that
// needs it, which then succeeds whole.
func TestBulkWriteRetriesAChunkItsMakerFailed(t *testing.T) {
	fsys := vfstest.NewFaulty(nil)
	r := fsys.Add(failOpen(5, 1))
	m, dir := openOnFS(t, &makerFirstFS{FS: fsys, idx: 5, tried: make(chan struct{})})
	skipWhereChunksAreFilled(t, m)
	data := pattern(2, 8*aheadChunk)
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if n := fsys.Fired(r); n != 1 {
		t.Fatalf("the creation of chunk 5 failed %d times, want 1", n)
	}
	if got := readAll(t, m); !bytes.Equal(got, data) {
		t.Fatal("the data read back differs")
	}
	wantDatasetFiles(t, m, dir, "after the Append")
}

// TestBulkWriteWhoseChunkCannotBeCreatedLeavesNothing checks that a bulk
// write whose chunk file cannot be created (here, on a full disk) fails
// with ErrNoSpace and leaves Size and the directory as they were, and
// that the same write works once there is room: for an Append, which
// writes the chunk, and for a WriteAt past Size, whose gap holds it.
func TestBulkWriteWhoseChunkCannotBeCreatedLeavesNothing(t *testing.T) {
	const head = 3 * aheadChunk
	for _, tc := range []struct {
		name  string
		write func(m *chunkmap.Manager, p []byte) error
		off   int64 // where the write puts p
	}{
		{"Append", func(m *chunkmap.Manager, p []byte) error { _, err := m.Append(p); return err }, head},
		{"WriteAt past Size", func(m *chunkmap.Manager, p []byte) error { _, err := m.WriteAt(p, 9*aheadChunk); return err }, 9 * aheadChunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := vfstest.NewFaulty(nil)
			m, dir := openOnFS(t, fsys)
			data := pattern(3, head)
			if _, err := m.Append(data); err != nil {
				t.Fatal(err)
			}
			r := fsys.Add(failOpen(6, 0))
			p := pattern(4, 4*aheadChunk+100)
			if err := tc.write(m, p); !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Fatalf("%s whose chunk 6 cannot be created: %v, want ErrNoSpace", tc.name, err)
			}
			if m.Size() != head {
				t.Fatalf("Size %d after the failed %s, want %d", m.Size(), tc.name, head)
			}
			wantDatasetFiles(t, m, dir, "after the failed "+tc.name)
			fsys.Disarm(r)
			if err := tc.write(m, p); err != nil {
				t.Fatal(err)
			}
			want := append(append(data, make([]byte, tc.off-head)...), p...)
			if got := readAll(t, m); !bytes.Equal(got, want) {
				t.Fatalf("offset %d differs from what was written", firstDiff(got, want))
			}
			wantDatasetFiles(t, m, dir, "after the next "+tc.name)
		})
	}
}

// readAll reads [Start, Size) of m.
func readAll(t *testing.T, m *chunkmap.Manager) []byte {
	t.Helper()
	p := make([]byte, m.Size()-m.Start())
	if _, err := m.ReadAt(p, m.Start()); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGrowthAgainstModel runs random growth (bulk and small Appends,
// WriteAt past Size, Grow) mixed with Sync, Truncate and DropBefore,
// checking every byte against a model and, after each call, that the
// directory holds exactly the dataset's chunk files; Sync and Close must
// not fail.
func TestGrowthAgainstModel(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_GROWTH_SEED")
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var model []byte // model[i] is the byte at offset i; below Start unused
	start := int64(0)
	// One goroutine calls, where the race detector, which slows the
	// steps about five times, has little to find: under it a third of
	// them run, and all of them without it.
	steps := 300
	if raceEnabled {
		steps = 100
	}
	for step := range steps {
		size := int64(len(model))
		var op string
		switch k := r.IntN(10); {
		case k < 4:
			n := 1 + r.IntN(6*aheadChunk)
			p := pattern(uint64(step), n)
			op = fmt.Sprintf("Append(%d)", n)
			if _, err := m.Append(p); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
			model = append(model, p...)
		case k < 6:
			off := size + int64(r.IntN(3*aheadChunk))
			n := 1 + r.IntN(4*aheadChunk)
			p := pattern(uint64(step), n)
			op = fmt.Sprintf("WriteAt(%d, %d)", n, off)
			if _, err := m.WriteAt(p, off); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
			model = append(model, make([]byte, off+int64(n)-size)...)
			copy(model[off:], p)
		case k < 7:
			n := int64(r.IntN(4 * aheadChunk))
			op = fmt.Sprintf("Grow(%d)", n)
			if err := m.Grow(n); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
		case k < 8:
			op = "Sync"
			if err := m.Sync(); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
		case k < 9:
			to := start + r.Int64N(size-start+1)
			op = fmt.Sprintf("Truncate(%d)", to)
			if err := m.Truncate(to); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
			model = model[:to]
		default:
			to := start + r.Int64N(size-start+1)
			op = fmt.Sprintf("DropBefore(%d)", to)
			if err := m.DropBefore(to); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
			start = m.Start()
		}
		if got := m.Size(); got != int64(len(model)) {
			t.Fatalf("step %d: after %s Size is %d, model %d", step, op, got, len(model))
		}
		if got := readAll(t, m); !bytes.Equal(got, model[start:]) {
			i := firstDiff(got, model[start:])
			t.Fatalf("step %d: after %s: offset %d differs from the model", step, op, start+int64(i))
		}
		wantDatasetFiles(t, m, dir, fmt.Sprintf("step %d: after %s", step, op))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBulkAppendsBesideGrowth runs bulk Appends on two goroutines
// while another Grows, appends small records and Syncs, so that growth on other
// goroutines meets chunks a bulk Append still owes; every Append's bytes
// must read back at the offset it returned, and the directory must hold
// exactly the dataset's chunk files afterwards, also after a reopen.
func TestBulkAppendsBesideGrowth(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_GROWTH_SEED")
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	type rec struct {
		off  int64
		data []byte
	}
	var (
		appenders, beside sync.WaitGroup
		stop              atomic.Bool
		recs              = make([][]rec, 3) // two bulk appenders, then the small Appends beside them
	)
	for w := range 2 {
		appenders.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := range 60 {
				p := pattern(seed+uint64(w*1000+i), 1+r.IntN(5*aheadChunk))
				off, err := m.Append(p)
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				recs[w] = append(recs[w], rec{off, p})
			}
		})
	}
	beside.Go(func() {
		r := rand.New(rand.NewPCG(seed, 7))
		for !stop.Load() {
			var err error
			switch r.IntN(3) {
			case 0:
				err = m.Grow(int64(r.IntN(3 * aheadChunk)))
			case 1:
				err = m.Sync()
			default:
				// A small Append claims after a bulk one that may still
				// owe chunks, and allocates its range first.
				p := pattern(r.Uint64(), 1+r.IntN(100))
				var off int64
				if off, err = m.Append(p); err == nil {
					recs[2] = append(recs[2], rec{off, p})
				}
			}
			if err != nil {
				t.Errorf("beside the Appends: %v", err)
				return
			}
		}
	})
	appenders.Wait()
	stop.Store(true)
	beside.Wait()
	check := func(m *chunkmap.Manager, when string) {
		t.Helper()
		for _, rs := range recs {
			for _, rc := range rs {
				got := make([]byte, len(rc.data))
				if _, err := m.ReadAt(got, rc.off); err != nil {
					t.Fatalf("%s: ReadAt(%d bytes, %d): %v", when, len(got), rc.off, err)
				}
				if !bytes.Equal(got, rc.data) {
					t.Fatalf("%s: the Append at %d reads back different bytes", when, rc.off)
				}
			}
		}
	}
	check(m, "open")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	check(m2, "reopened")
	wantDatasetFiles(t, m2, dir, "after a reopen")
}

// TestWritePastSizeSettlesItsGap checks that a bulk write past Size, whose
// gap holds whole chunks it never writes, leaves those chunks' files in
// the dataset when it returns: a Truncate or DropBefore that deletes them,
// a growth and a Sync after it succeed, the gap reads as zeros, and the
// dataset reopens.
func TestWritePastSizeSettlesItsGap(t *testing.T) {
	for _, shrink := range []string{"none", "Truncate", "DropBefore"} {
		t.Run(shrink, func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			head, tail := pattern(4, aheadChunk/2), pattern(5, 2*aheadChunk)
			if _, err := m.Append(head); err != nil {
				t.Fatal(err)
			}
			// Chunks 1 to 4 lie wholly in the gap; 5 and 6 are written.
			if _, err := m.WriteAt(tail, 5*aheadChunk); err != nil {
				t.Fatal(err)
			}
			wantDatasetFiles(t, m, dir, "after the write past Size")
			want := append(append(head, make([]byte, 5*aheadChunk-len(head))...), tail...)
			switch shrink {
			case "Truncate":
				err, want = m.Truncate(aheadChunk/2), want[:aheadChunk/2]
			case "DropBefore":
				err, want = m.DropBefore(5*aheadChunk), want[5*aheadChunk:]
			}
			if err != nil {
				t.Fatal(err)
			}
			// A growth after it, then a Sync.
			more := pattern(6, 100)
			if _, err := m.Append(more); err != nil {
				t.Fatal(err)
			}
			want = append(want, more...)
			if err := m.Sync(); err != nil {
				t.Fatalf("Sync after %s and an Append: %v", shrink, err)
			}
			if got := readAll(t, m); !bytes.Equal(got, want) {
				t.Fatalf("offset %d differs from what was written", m.Start()+int64(firstDiff(got, want)))
			}
			wantDatasetFiles(t, m, dir, "after "+shrink)
			if err := m.Close(); err != nil {
				t.Fatalf("Close after %s: %v", shrink, err)
			}
			m2, err := chunkmap.Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			wantDatasetFiles(t, m2, dir, "after a reopen")
		})
	}
}

// TestBulkAppendsOnOneThread runs bulk Appends, Truncates and writes past
// Size with one P, so that the maker a growth starts rarely runs before
// the write needs its chunks: the write takes them over, and the maker
// begins (if at all) after its run has ended, or after another run began.
// Every byte must read back, the directory must hold exactly the dataset's
// chunk files after each call, and Close and a reopen must succeed.
func TestBulkAppendsOnOneThread(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	seed := testSeed(t, "CHUNKMAP_GROWTH_SEED")
	r := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var model []byte
	steps := 200
	if raceEnabled {
		// Each step reads the whole dataset back, whose size grows with
		// the steps, and the race detector checks every byte copied.
		steps = 40
	}
	for step := range steps {
		var op string
		switch k := r.IntN(8); {
		case k < 6:
			p := pattern(uint64(step), 1+r.IntN(20*aheadChunk))
			op = fmt.Sprintf("Append(%d)", len(p))
			if _, err := m.Append(p); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
			model = append(model, p...)
		case k < 7:
			off := int64(len(model)) + int64(r.IntN(4*aheadChunk))
			p := pattern(uint64(step), 2*aheadChunk+r.IntN(8*aheadChunk))
			op = fmt.Sprintf("WriteAt(%d, %d)", len(p), off)
			if _, err := m.WriteAt(p, off); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
			model = append(model, make([]byte, off+int64(len(p))-int64(len(model)))...)
			copy(model[off:], p)
		default:
			to := r.Int64N(int64(len(model)) + 1)
			op = fmt.Sprintf("Truncate(%d)", to)
			if err := m.Truncate(to); err != nil {
				t.Fatalf("step %d: %s: %v", step, op, err)
			}
			model = model[:to]
		}
		if got := readAll(t, m); !bytes.Equal(got, model) {
			t.Fatalf("step %d: after %s: offset %d differs from the model", step, op, firstDiff(got, model))
		}
		wantDatasetFiles(t, m, dir, fmt.Sprintf("step %d: after %s", step, op))
	}
	if got := readAll(t, reopen(t, m, nil)); !bytes.Equal(got, model) {
		t.Fatalf("reopened: offset %d differs from the model", firstDiff(got, model))
	}
}
