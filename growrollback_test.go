package chunkmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// allocFailFS passes every operation to vfs.OS, except that Allocate and
// WriteAt on a chunk file whose index is at least from fail with the
// system's error for a full disk (SpaceErrno) while on is set.
type allocFailFS struct {
	vfs.FS
	on    atomic.Bool
	from  int64
	below int64 // if not 0, Allocate fails only below this index
	fails atomic.Int64
}

func (a *allocFailFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := a.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &allocFailFile{File: f, a: a}, nil
}

type allocFailFile struct {
	vfs.File
	a *allocFailFS
}

func chunkIndexOf(name string) int64 {
	base := filepath.Base(name)
	if !strings.HasSuffix(base, ".chunk") {
		return -1
	}
	var idx int64
	for _, c := range strings.TrimSuffix(base, ".chunk") {
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case c >= 'a' && c <= 'f':
			d = int64(c-'a') + 10
		default:
			return -1
		}
		idx = idx*16 + d
	}
	return idx
}

func (f *allocFailFile) Allocate(off, n int64) error {
	if idx := chunkIndexOf(f.Name()); f.a.on.Load() && idx >= f.a.from && (f.a.below == 0 || idx < f.a.below) {
		f.a.fails.Add(1)
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: chunkmap.SpaceErrno}
	}
	return f.File.Allocate(off, n)
}

func (f *allocFailFile) WriteAt(p []byte, off int64) (int, error) {
	if f.a.on.Load() && chunkIndexOf(f.Name()) >= f.a.from {
		f.a.fails.Add(1)
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: chunkmap.SpaceErrno}
	}
	return f.File.WriteAt(p, off)
}

// openOnFS opens a new dataset of MinChunkSize chunks in a temporary
// directory through fsys, closed when the test ends, and returns it and
// the directory.
func openOnFS(t *testing.T, fsys vfs.FS) (*chunkmap.Manager, string) {
	t.Helper()
	m, dir := openOnFSUnclosed(t, fsys, chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	t.Cleanup(func() { m.Close() })
	return m, dir
}

// openOnFSUnclosed opens a dataset in a new directory with options o, doing
// every file operation through fsys, and leaves closing it to the test: a
// test that checks that Close returns (with nilWithin) must fail, not hang
// in a cleanup that closes the Manager once more.
func openOnFSUnclosed(t *testing.T, fsys vfs.FS, o chunkmap.Options) (*chunkmap.Manager, string) {
	t.Helper()
	chunkmap.SetFS(&o, fsys)
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	return m, dir
}

// nilWithin runs f, named what, and fails the test if it returns an error
// or has not returned within 30 seconds (a hang, which the test would
// otherwise share; the goroutine is left behind).
func nilWithin(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return within 30s", what)
	}
}

func chunkFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".chunk") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// TestFailedGrowthLeavesNoChunkFiles checks that a WriteAt, Append and
// Grow whose allocation fails in a chunk the call itself created leave the
// dataset as it was: no new chunk file, Size unchanged, and the next
// growth (once space is back) works, also after a reopen.
func TestFailedGrowthLeavesNoChunkFiles(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	fsys := &allocFailFS{FS: vfs.OS, from: 1}
	o := chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&o, fsys)
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	skipWhereChunksAreFilled(t, m) // Fill writes whole chunks past the injected failures
	if _, err := m.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	before := chunkFilesIn(t, dir)
	fsys.on.Store(true)
	calls := map[string]func() error{
		"WriteAt": func() error { _, err := m.WriteAt(make([]byte, 3*cs), cs/2); return err },
		"Append":  func() error { _, err := m.Append(make([]byte, 2*cs)); return err },
		"Grow":    func() error { return m.Grow(4 * cs) },
		"Truncate up": func() error {
			// Truncate allocates nothing past Size: it may succeed.
			return nil
		},
	}
	for name, call := range calls {
		err := call()
		if name == "Truncate up" {
			continue
		}
		if !errors.Is(err, chunkmap.ErrNoSpace) {
			t.Errorf("%s with allocation failing: %v, want ErrNoSpace", name, err)
		}
		if got := chunkFilesIn(t, dir); strings.Join(got, ",") != strings.Join(before, ",") {
			t.Errorf("%s failed but left chunk files %v, want %v", name, got, before)
		}
		if m.Size() != 4 {
			t.Errorf("%s failed but Size is %d, want 4", name, m.Size())
		}
	}
	if fsys.fails.Load() == 0 {
		t.Fatal("no allocation was refused: the test did not exercise rollback")
	}
	fsys.on.Store(false)
	want := bytes.Repeat([]byte{7}, 2*cs)
	if _, err := m.WriteAt(want, cs); err != nil {
		t.Fatalf("WriteAt once space is back: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer m.Close()
	got := make([]byte, 2*cs)
	if _, err := m.ReadAt(got, cs); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after reopen: %v, bytes equal %v", err, bytes.Equal(got, want))
	}
}

// TestFailedGrowthConcurrentAppends runs appends that succeed next to
// growths that fail and roll back: no successful append may lose a chunk
// file, and Size must cover every successful append.
func TestFailedGrowthConcurrentAppends(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	fsys := &allocFailFS{FS: vfs.OS, from: 100}
	o := chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&o, fsys)
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	skipWhereChunksAreFilled(t, m) // Fill writes whole chunks past the injected failures
	var wg sync.WaitGroup
	var mu sync.Mutex
	okAt := map[int64]byte{}
	for g := range 4 {
		wg.Go(func() {
			for i := range 40 {
				v := byte(g*40 + i + 1)
				if g == 0 {
					// Far past the end: fails in a chunk the call creates.
					fsys.on.Store(true)
					_, err := m.WriteAt([]byte{v}, 100*cs+int64(i))
					fsys.on.Store(false)
					if err == nil {
						t.Errorf("WriteAt far past the end with allocation failing: nil error")
					}
					continue
				}
				off, err := m.Append(bytes.Repeat([]byte{v}, cs/4))
				if err == nil {
					mu.Lock()
					okAt[off] = v
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if fsys.fails.Load() == 0 {
		t.Fatal("no allocation was refused: the test did not exercise rollback")
	}
	if n := len(chunkFilesIn(t, dir)); int64(n) != (m.Size()+cs-1)/cs {
		t.Errorf("%d chunk files for Size %d", n, m.Size())
	}
	for off, v := range okAt {
		p := make([]byte, cs/4)
		if _, err := m.ReadAt(p, off); err != nil {
			t.Fatalf("ReadAt of a successful append at %d: %v", off, err)
		}
		if !bytes.Equal(p, bytes.Repeat([]byte{v}, cs/4)) {
			t.Fatalf("append at %d: bytes changed", off)
		}
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// gateFS is allocFailFS whose first failing WriteAt waits, once it has
// signalled blocked, until release is closed.
type gateFS struct {
	allocFailFS
	blocked, release chan struct{}
	once             sync.Once
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &gateFile{allocFailFile: allocFailFile{File: f, a: &g.allocFailFS}, g: g}, nil
}

type gateFile struct {
	allocFailFile
	g *gateFS
}

func (f *gateFile) WriteAt(p []byte, off int64) (int, error) {
	if f.g.on.Load() {
		f.g.once.Do(func() {
			close(f.g.blocked)
			<-f.g.release
		})
	}
	return f.allocFailFile.WriteAt(p, off)
}

// TestBulkAppendOnFullDiskWhileAnotherClaims: a bulk Append's range is
// handed out unallocated (its pwrite allocates), so an Append that claims
// the next range while the first is still writing must allocate the
// first's range before its own. Where the first's range has no space
// (the second's chunk has) that fails the second Append, leaves the first
// the latest claim, and the first, failing in turn, gives its range back:
// Size and the chunk files are as they were, and no zeros are left in the
// dataset. Had the second claimed its range, it would have succeeded, and
// the first's failed range would have stayed in the dataset as zeros.
func TestBulkAppendOnFullDiskWhileAnotherClaims(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	fsys := &gateFS{allocFailFS: allocFailFS{FS: vfs.OS, below: 3}, blocked: make(chan struct{}), release: make(chan struct{})}
	m, dir := openOnFS(t, fsys)
	// Where chunks are written whole at creation no range is handed out
	// unallocated, and a pwrite into one needs no space.
	skipWhereChunksAreFilled(t, m)
	if _, err := m.Append([]byte("head")); err != nil {
		t.Fatal(err)
	}
	before := chunkFilesIn(t, dir)
	fsys.on.Store(true)
	first := make(chan error, 1)
	go func() {
		_, err := m.Append(make([]byte, 3*cs-4)) // chunks 0 to 2
		first <- err
	}()
	<-fsys.blocked
	second := make(chan error, 1)
	go func() {
		_, err := m.Append([]byte("second"))
		second <- err
	}()
	// A second Append that claimed its range waits for the first, which
	// waits for release: give up waiting rather than hang.
	select {
	case err := <-second:
		if !errors.Is(err, chunkmap.ErrNoSpace) {
			t.Errorf("Append claiming after an unallocated bulk Append on a full disk: %v, want ErrNoSpace", err)
		}
	case <-time.After(time.Minute):
		t.Errorf("Append claiming after an unallocated bulk Append on a full disk claimed its range: it waits for the first")
	}
	close(fsys.release)
	if err := <-first; !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Errorf("bulk Append on a full disk: %v, want ErrNoSpace", err)
	}
	if m.Size() != 4 {
		t.Errorf("Size %d after both Appends failed, want 4", m.Size())
	}
	if got := chunkFilesIn(t, dir); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Errorf("failed Appends left chunk files %v, want %v", got, before)
	}
	fsys.on.Store(false)
	off, err := m.Append([]byte("third"))
	if err != nil || off != 4 {
		t.Fatalf("Append once space is back: at %d, %v; want at 4", off, err)
	}
	got := make([]byte, 9)
	if _, err := m.ReadAt(got, 0); err != nil || string(got) != "headthird" {
		t.Fatalf("dataset reads %q, %v; want \"headthird\"", got, err)
	}
}

// TestFailedWriteUnmapsTheChunksItGaveBack checks that a write past Size
// that fails part way, after storing through the mapping of a chunk its
// growth created, leaves no mapping of that chunk behind when it gives the
// chunks back: a Sync then reports nothing lost, and the same write made
// again reaches the new chunk files and survives a reopen. (A mapping left
// in its slot took the second write to the removed file.) With two chunks
// mapped at most, the write maps chunk 7, the first it creates, and writes
// chunk 8 with pwrite (admission turns it away), where the fault is
// injected.
func TestFailedWriteUnmapsTheChunksItGaveBack(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	fsys := vfstest.NewFaulty(nil)
	o := chunkmap.Options{ChunkSize: cs, ArenaSize: 16 * cs, MaxMapped: 2}
	chunkmap.SetFS(&o, fsys)
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(pattern(1, 1000), 6*cs+5); err != nil {
		t.Fatal(err)
	}
	// Across the new chunks 7 and 8; writing chunk 8 fails.
	p, off := pattern(2, 2679), int64(8*cs-2035)
	r := fsys.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, chunkName(8)), Err: syscall.EIO, Times: 1})
	if _, err := m.WriteAt(p, off); !errors.Is(err, chunkmap.ErrIO) || fsys.Fired(r) != 1 {
		t.Fatalf("WriteAt failing in chunk 8: %v (the fault fired %d times), want ErrIO", err, fsys.Fired(r))
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync after the failed write: %v", err)
	}
	if _, err := m.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	got := make([]byte, len(p))
	if _, err := m2.ReadAt(got, off); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, p); i >= 0 {
		t.Fatalf("after a reopen, offset %d of the write made again reads %#x, want %#x", off+int64(i), got[i], p[i])
	}
}

// regularChunks lists the chunks whose names in dir are regular files.
func regularChunks(t *testing.T, dir string) []int64 {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int64
	for _, e := range es {
		if i := chunkIndexOf(e.Name()); i >= 0 && e.Type().IsRegular() {
			idx = append(idx, i)
		}
	}
	return idx
}
