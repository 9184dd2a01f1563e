package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// TestProbeScratch_EveryCall proves that every method works on a scratch
// dataset with one mapping, that the directory never gains a name (before
// Close, after Close, with a pin still held across Close), that other
// files in it are left alone, that every call after Close returns
// ErrClosed naming its operation, and that every descriptor is given back.
func TestProbeScratch_EveryCall(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	dir := t.TempDir()
	other := filepath.Join(dir, "unrelated.txt")
	if err := os.WriteFile(other, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	fds := probeOpenFDs()
	m, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ChunkSize: probeCS, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	noNames := func(when string) {
		t.Helper()
		if names := probeListDir(t, dir); !slices.Equal(names, []string{"unrelated.txt"}) {
			t.Fatalf("%s: scratch directory holds %v", when, names)
		}
	}
	md := &probeModel{}
	check := func(step string) {
		t.Helper()
		probeCheck(t, m, md, step)
		noNames(step)
	}
	p := probeRandomBytes(rand.New(rand.NewSource(1)), 3*probeCS+17)
	if _, err := m.WriteAt(p, probeCS/2); err != nil {
		t.Fatal(err)
	}
	md.writeAt(p, probeCS/2)
	check("WriteAt")
	off, err := m.Append([]byte("tail"))
	if err != nil || off != md.size() {
		t.Fatalf("Append = %d, %v", off, err)
	}
	md.writeAt([]byte("tail"), off)
	check("Append")
	if err := m.Grow(5 * probeCS); err != nil {
		t.Fatal(err)
	}
	check("Grow")
	if st := m.Stats(); st.Chunks < 9 {
		t.Fatalf("after Grow(5 chunks): Stats %+v, want at least 9 chunks", st)
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync = %v, want nil", err)
	}
	// Atomics across the slots of the one mapping.
	for _, o := range []int64{probeCS / 2, probeCS, 2*probeCS + 8, 3 * probeCS} {
		if err := m.StoreUint64(o, uint64(o)*3); err != nil {
			t.Fatal(err)
		}
		if v, err := m.AddUint64(o, 1); err != nil || v != uint64(o)*3+1 {
			t.Fatalf("AddUint64(%d) = %d, %v", o, v, err)
		}
		if ok, err := m.CompareAndSwapUint32(o, uint32(uint64(o)*3+1), 5); err != nil || !ok {
			t.Fatalf("CompareAndSwapUint32(%d) = %v, %v", o, ok, err)
		}
		if v, err := m.LoadUint32(o); err != nil || v != 5 {
			t.Fatalf("LoadUint32(%d) = %d, %v", o, v, err)
		}
		var w [8]byte
		if _, err := m.ReadAt(w[:], o); err != nil {
			t.Fatal(err)
		}
		copy(md.data[o:], w[:])
	}
	_, err = m.LoadUint64(probeCS + 4)
	probeWantErr(t, err, chunkmap.ErrUnaligned, "atomic load", "LoadUint64 unaligned")
	_, err = m.LoadUint64((md.size() + 7) &^ 7)
	probeWantErr(t, err, chunkmap.ErrOutOfRange, "atomic load", "LoadUint64 at Size")
	check("atomics")
	// Gather and Scatter over every chunk, straddling boundaries.
	offs := []int64{probeCS - 3, 2*probeCS - 1, probeCS / 2, 3*probeCS + 1}
	src := []byte("AAAAaaaaBBBBbbbbCCCCccccDDDDdddd")
	if err := m.Scatter(src, offs, 8); err != nil {
		t.Fatal(err)
	}
	for k, o := range offs {
		md.writeAt(src[k*8:(k+1)*8], o)
	}
	dst := make([]byte, len(src))
	if err := m.Gather(dst, offs, 8); err != nil || !bytes.Equal(dst, src) {
		t.Fatalf("Gather = %q, %v", dst, err)
	}
	err = m.Scatter(src[:8], []int64{md.size() - 4}, 8)
	probeWantErr(t, err, chunkmap.ErrOutOfRange, "scatter", "Scatter past Size")
	check("Gather/Scatter")
	// A writable pin across three chunks with one mapping allowed.
	pin, err := m.PinWritable(probeCS-10, 2*probeCS+20)
	if err != nil {
		t.Fatal(err)
	}
	b := pin.Bytes()
	for i := range b {
		b[i] = byte(i)
	}
	md.writeAt(b, probeCS-10)
	pin.Release()
	check("PinWritable")
	// A Batch across chunks.
	err = m.Batch(func(bt *chunkmap.Batch) error {
		w, err := bt.WritableBytes(2*probeCS-5, 10)
		if err != nil {
			return err
		}
		copy(w, "0123456789")
		r, err := bt.Bytes(probeCS/2, 4)
		if err != nil {
			return err
		}
		if !bytes.Equal(r, md.data[probeCS/2:][:4]) {
			return fmt.Errorf("Batch read %q", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	md.writeAt([]byte("0123456789"), 2*probeCS-5)
	check("Batch")
	if err := m.Advise(md.start, md.size()-md.start, chunkmap.AdviceDontNeed); err != nil {
		t.Fatal(err)
	}
	check("Advise DontNeed")
	if err := m.Truncate(2*probeCS + 3); err != nil {
		t.Fatal(err)
	}
	md.truncate(2*probeCS + 3)
	check("Truncate down")
	if err := m.Truncate(4 * probeCS); err != nil {
		t.Fatal(err)
	}
	md.truncate(4 * probeCS)
	check("Truncate up")
	if err := m.DropBefore(probeCS + 1); err != nil {
		t.Fatal(err)
	}
	md.start = probeCS
	check("DropBefore")
	_, err = m.WriteAt([]byte{1}, probeCS-1)
	probeWantErr(t, err, chunkmap.ErrOutOfRange, "write", "WriteAt below Start")
	// A pin held across Close keeps its bytes.
	held, err := m.Pin(probeCS, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(held.Bytes(), md.data[probeCS:][:16]) {
		t.Fatalf("pinned bytes after Close = %x", held.Bytes())
	}
	noNames("after Close, pin held")
	held.Release()
	noNames("after Close")
	if data, err := os.ReadFile(other); err != nil || string(data) != "keep me" {
		t.Fatalf("unrelated file: %q, %v", data, err)
	}
	// Every call after Close.
	var one [8]byte
	calls := map[string]error{}
	_, calls["read"] = m.ReadAt(one[:], probeCS)
	_, calls["write"] = m.WriteAt(one[:], probeCS)
	_, calls["append"] = m.Append(one[:])
	calls["truncate"] = m.Truncate(probeCS)
	calls["grow"] = m.Grow(1)
	calls["drop"] = m.DropBefore(2 * probeCS)
	calls["sync"] = m.Sync()
	_, calls["pin"] = m.Pin(probeCS, 1)
	calls["batch"] = m.Batch(func(*chunkmap.Batch) error { return nil })
	calls["gather"] = m.Gather(one[:], []int64{probeCS}, 8)
	calls["scatter"] = m.Scatter(one[:], []int64{probeCS}, 8)
	_, calls["load"] = m.LoadUint64(probeCS)
	calls["close"] = m.Close()
	for op, err := range calls {
		if !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
	if st := m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
		t.Errorf("Stats after Close = %+v", st)
	}
	if fds >= 0 {
		if now := probeOpenFDs(); now > fds {
			t.Errorf("%d descriptors open after Close, %d before Open: the scratch files' space is never given back", now, fds)
		}
	}
	// Nothing persisted: there is no dataset to open.
	_, err = chunkmap.Open(dir, &chunkmap.Options{ErrorIfNotExists: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(ErrorIfNotExists) after a scratch dataset = %v, want fs.ErrNotExist", err)
	}
	m2, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ChunkSize: probeCS})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Size() != 0 || m2.Start() != 0 || m2.Stats().Chunks != 0 {
		t.Fatalf("a new scratch dataset in the same dir: [%d, %d), %d chunks", m2.Start(), m2.Size(), m2.Stats().Chunks)
	}
	m2.Close()
	noNames("second scratch closed")
}

// TestProbeScratch_ShrinkGivesBackDescriptors proves that Truncate and
// DropBefore on a scratch dataset close the descriptors of the chunks they
// delete: a nameless file's blocks are freed only then.
func TestProbeScratch_ShrinkGivesBackDescriptors(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	if probeOpenFDs() < 0 {
		t.Skip("no /proc/self/fd")
	}
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ChunkSize: probeCS, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	base := probeOpenFDs()
	if _, err := m.WriteAt(make([]byte, 1), 40*probeCS); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 40*probeCS+1)
	if _, err := m.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	grown := probeOpenFDs()
	if err := m.Truncate(probeCS); err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(probeCS); err != nil {
		t.Fatal(err)
	}
	if now := probeOpenFDs(); now > base+2 {
		t.Fatalf("descriptors: %d before growth, %d with 41 chunks, %d with none left: deleted scratch chunks stay open", base, grown, now)
	}
}

// TestProbeScratch_ManyAtOnce proves that many scratch datasets open at
// once in one directory, beside a persistent dataset there, are isolated
// from each other and from it, and leave nothing but the persistent
// dataset's files behind.
func TestProbeScratch_ManyAtOnce(t *testing.T) {
	watchdog.Start(t, 60*time.Second)
	seed := int64(testSeed(t, "PROBE_SEED"))
	dir := t.TempDir()
	pm, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: probeCS})
	if err != nil {
		t.Fatal(err)
	}
	persisted := bytes.Repeat([]byte("persist!"), probeCS/4)
	if _, err := pm.WriteAt(persisted, 0); err != nil {
		t.Fatal(err)
	}
	before := probeListDir(t, dir)
	fds := probeOpenFDs()
	const n = 24
	ms := make([]*chunkmap.Manager, n)
	for i := range ms {
		if ms[i], err = chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ChunkSize: probeCS, MaxMapped: 1 + i%3}); err != nil {
			t.Fatalf("scratch %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(i)))
			md := &probeModel{}
			for step := 0; step < 60; step++ {
				off := rng.Int63n(6 * probeCS)
				p := bytes.Repeat([]byte{byte(i + 1)}, 1+rng.Intn(probeCS))
				if _, err := m.WriteAt(p, off); err != nil {
					errs <- fmt.Errorf("scratch %d: %w", i, err)
					return
				}
				md.writeAt(p, off)
				if step%7 == 0 {
					sz := rng.Int63n(md.size() + 1)
					if err := m.Truncate(sz); err != nil {
						errs <- fmt.Errorf("scratch %d: %w", i, err)
						return
					}
					md.truncate(sz)
				}
			}
			got := make([]byte, md.size())
			if _, err := m.ReadAt(got, 0); err != nil && err != io.EOF {
				errs <- fmt.Errorf("scratch %d: %w", i, err)
				return
			}
			if !bytes.Equal(got, md.data) || m.Size() != md.size() {
				errs <- fmt.Errorf("scratch %d: contents differ from its model (size %d, model %d)", i, m.Size(), md.size())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if names := probeListDir(t, dir); !slices.Equal(names, before) {
		t.Fatalf("with %d scratch datasets open the directory holds %v, before %v", n, names, before)
	}
	for i, m := range ms {
		if err := m.Close(); err != nil {
			t.Errorf("Close scratch %d: %v", i, err)
		}
	}
	if now := probeOpenFDs(); fds >= 0 && now > fds {
		t.Errorf("%d descriptors after closing every scratch dataset, %d before", now, fds)
	}
	if err := pm.Close(); err != nil {
		t.Fatal(err)
	}
	if names := probeListDir(t, dir); !slices.Equal(names, before) {
		t.Fatalf("after Close the directory holds %v, before %v", names, before)
	}
	pm, err = chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	got := make([]byte, len(persisted))
	if _, err := pm.ReadAt(got, 0); err != nil || !bytes.Equal(got, persisted) || pm.Size() != int64(len(persisted)) {
		t.Fatalf("persistent dataset after the scratch ones: size %d, %v", pm.Size(), err)
	}
}

// TestProbeScratch_RefusedOptions proves that a scratch Open with invalid
// options (ReadOnly, a bad ChunkSize, a negative MaxMapped) is refused with
// ErrInvalidOptions before the directory is created.
func TestProbeScratch_RefusedOptions(t *testing.T) {
	for _, o := range []chunkmap.Options{
		{Scratch: true, ReadOnly: true},
		{Scratch: true, ChunkSize: probeCS + 1},
		{Scratch: true, ChunkSize: probeCS / 2},
		{Scratch: true, MaxMapped: -1},
		{Scratch: true, ArenaSize: -1},
		{Scratch: true, Advice: 99},
		{Scratch: true, FileMode: os.ModeDir | 0o644},
	} {
		dir := filepath.Join(t.TempDir(), "s")
		m, err := chunkmap.Open(dir, &o)
		if err == nil {
			m.Close()
		}
		probeWantErr(t, err, chunkmap.ErrInvalidOptions, "open", fmt.Sprintf("Open(%+v)", o))
		if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%+v) refused, but the directory was created (%v)", o, err)
		}
	}
}

// TestProbeScratch_DirNotADirectory proves that a scratch Open, like every
// Open (see Open's doc and ErrCorrupt), refuses a dir that is not a
// directory, a symlink to one included, with ErrCorrupt, and leaves it as
// it was.
func TestProbeScratch_DirNotADirectory(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(root, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		// Wine 8's CreateSymbolicLinkW reports success but leaves a
		// name that nothing finds.
		t.Skipf("os.Symlink made no symlink: Lstat says %v, %v", fi, err)
	}
	for _, dir := range []string{file, link} {
		o := chunkmap.Options{ChunkSize: probeCS}
		m, err := chunkmap.Open(dir, &o)
		if err == nil {
			m.Close()
		}
		probeWantErr(t, err, chunkmap.ErrCorrupt, "open", "persistent Open of "+filepath.Base(dir))
		o.Scratch = true
		m, err = chunkmap.Open(dir, &o)
		if err == nil {
			m.Close()
		}
		probeWantErr(t, err, chunkmap.ErrCorrupt, "open", "scratch Open of "+filepath.Base(dir))
	}
	if data, err := os.ReadFile(file); err != nil || string(data) != "x" {
		t.Fatalf("file changed: %q, %v", data, err)
	}
}

// TestProbeScratch_ErrorIfNotExists proves that ErrorIfNotExists is not
// silently ignored by a scratch Open of a missing directory: Open either
// fails with fs.ErrNotExist (or ErrInvalidOptions, as for Scratch with
// ReadOnly) and creates nothing, or does not create the directory.
func TestProbeScratch_ErrorIfNotExists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	m, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ErrorIfNotExists: true, ChunkSize: probeCS})
	if err == nil {
		m.Close()
		t.Fatalf("Open(Scratch, ErrorIfNotExists) of a missing directory succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, chunkmap.ErrInvalidOptions) {
		t.Fatalf("Open(Scratch, ErrorIfNotExists) = %v, want fs.ErrNotExist or ErrInvalidOptions", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("refused Open created the directory")
	}
}
