package chunkmap_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// model is the in-memory oracle: data[i] is the byte at offset i, for
// offsets below Size.
type model struct {
	start int64
	data  []byte
}

func (md *model) writeAt(p []byte, off int64) {
	if len(p) == 0 {
		return
	}
	if end := off + int64(len(p)); end > int64(len(md.data)) {
		md.data = append(md.data, make([]byte, end-int64(len(md.data)))...)
	}
	copy(md.data[off:], p)
}

func (md *model) truncate(size int64) {
	if size <= int64(len(md.data)) {
		md.data = md.data[:size:size]
		return
	}
	md.data = append(md.data, make([]byte, size-int64(len(md.data)))...)
}

// check compares m with md: Start, Size, and every byte in [Start, Size).
func (md *model) check(t testing.TB, m *chunkmap.Manager) {
	t.Helper()
	if got, want := m.Start(), md.start; got != want {
		t.Fatalf("Start() = %d, want %d", got, want)
	}
	if got, want := m.Size(), int64(len(md.data)); got != want {
		t.Fatalf("Size() = %d, want %d", got, want)
	}
	got := readAt(t, m, md.start, len(md.data)-int(md.start))
	if i := firstDiff(got, md.data[md.start:]); i >= 0 {
		off := md.start + int64(i)
		t.Fatalf("byte at offset %d (chunk %d) = %#x, want %#x", off, off/cs, got[i], md.data[off])
	}
}

// chunkFiles returns the indices of the chunk files in dir, in directory
// listing order (which is sorted by name), and fails on any other file but
// the manifest and the platform's lock file (LOCK on Windows).
func chunkFiles(t testing.TB, dir string) []int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int64
	for _, e := range entries {
		if e.Name() == chunkmap.ManifestName || e.Name() == platformLockFile {
			continue
		}
		i, ok := chunk.ParseName(e.Name())
		if !ok {
			t.Fatalf("unexpected file %s in %s", e.Name(), dir)
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != cs {
			t.Errorf("chunk file %s is %d bytes, want %d", e.Name(), fi.Size(), cs)
		}
		idx = append(idx, i)
	}
	return idx
}

// span returns the indices [from, to).
func span(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func wantChunkFiles(t testing.TB, dir string, from, to int64) {
	t.Helper()
	if got, want := chunkFiles(t, dir), span(from, to); !slices.Equal(got, want) {
		t.Fatalf("chunk files = %v, want %v", got, want)
	}
}

// snapshot records every file and directory under dir: name, mode, and
// contents.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	s := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			s[rel] = fmt.Sprintf("dir %v", fi.Mode())
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s[rel] = fmt.Sprintf("%v %d %x", fi.Mode(), len(b), crc32.ChecksumIEEE(b)) + "\x00" + string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return s
}

func wantSameSnapshot(t testing.TB, before, after map[string]string) {
	t.Helper()
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s was removed", name)
		case a != b:
			t.Errorf("%s was modified: %.60q, was %.60q", name, a, b)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
}

// wantErr fails unless errors.Is(err, target); a nil target wants nil.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: %v, want nil", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func TestManager_Reopen(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	for round := range 4 {
		p := pattern(uint64(round), cs+12345)
		off, err := m.Append(p)
		if err != nil {
			t.Fatal(err)
		}
		md.writeAt(p, off)
		p = pattern(uint64(round+100), 777)
		at := int64(round)*cs + cs - 300
		writeAt(t, m, p, at)
		md.writeAt(p, at)
		if round == 2 {
			if err := m.DropBefore(cs + 5); err != nil {
				t.Fatal(err)
			}
			md.start = cs
		}
		md.check(t, m)
		m = reopen(t, m, &chunkmap.Options{MaxMapped: 2})
		if s := m.Stats(); s.Mapped != 0 {
			t.Errorf("round %d: Stats().Mapped = %d right after Open, want 0", round, s.Mapped)
		}
		md.check(t, m)
		if got, want := m.Stats().Chunks, int((int64(len(md.data))+cs-1)/cs-md.start/cs); got != want {
			t.Errorf("round %d: Stats().Chunks = %d, want %d", round, got, want)
		}
	}
}

// TestManager_ErrClosed calls every method after Close.
func TestManager_ErrClosed(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("ReadOnly=%v", readOnly), func(t *testing.T) {
			dir, _ := buildDataset(t)
			m := openTestManager(t, dir, &chunkmap.Options{ReadOnly: readOnly})
			readAt(t, m, 0, 10) // something mapped
			size := m.Size()
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			p := make([]byte, 10)
			calls := []struct {
				name string
				fn   func() error
			}{
				{"Close", m.Close},
				{"ReadAt", func() error { _, err := m.ReadAt(p, 0); return err }},
				{"ReadAt empty", func() error { _, err := m.ReadAt(nil, 0); return err }},
				{"ReadAt past size", func() error { _, err := m.ReadAt(p, size); return err }},
				{"WriteAt", func() error { _, err := m.WriteAt(p, 0); return err }},
				{"WriteAt empty", func() error { _, err := m.WriteAt(nil, 0); return err }},
				{"Append", func() error { _, err := m.Append(p); return err }},
				{"Grow", func() error { return m.Grow(cs) }},
				{"Truncate", func() error { return m.Truncate(0) }},
				{"DropBefore", func() error { return m.DropBefore(cs) }},
				{"Sync", m.Sync},
				{"Refresh", m.Refresh},
				{"Pin", func() error { _, err := m.Pin(0, 1); return err }},
				{"PinWritable", func() error { _, err := m.PinWritable(0, 1); return err }},
			}
			for _, c := range calls {
				wantErr(t, c.name+" after Close", c.fn(), chunkmap.ErrClosed)
			}
			// The accessors that cannot fail still answer.
			if m.Size() != size || m.Start() != 0 || m.ChunkSize() != cs {
				t.Errorf("after Close: Size, Start, ChunkSize = %d, %d, %d, want %d, 0, %d", m.Size(), m.Start(), m.ChunkSize(), size, cs)
			}
		})
	}
}

func TestManager_Sync(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	var md model
	for i := range int64(4) {
		p := pattern(uint64(i), cs/2)
		writeAt(t, m, p, i*cs+cs/4) // evicts the chunk before
		md.writeAt(p, i*cs+cs/4)
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// A reader opened now sees the Size that Sync recorded, and the
	// chunk files hold the bytes (os.ReadFile is the oracle).
	r := openTestManager(t, m.Dir(), &chunkmap.Options{ReadOnly: true})
	md.check(t, r)
	for i := range int64(4) {
		b, err := os.ReadFile(filepath.Join(m.Dir(), chunk.Name(i)))
		if err != nil {
			t.Fatal(err)
		}
		want := md.data[i*cs : min((i+1)*cs, int64(len(md.data)))]
		if j := firstDiff(b[:len(want)], want); j >= 0 {
			t.Errorf("chunk file %d differs from the model at byte %d", i, j)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Sync with nothing to do succeeds and changes nothing.
	before := snapshot(t, m.Dir())
	if err := m.Sync(); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	wantSameSnapshot(t, before, snapshot(t, m.Dir()))
}

func TestManager_Stats(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	check := func(step string) {
		t.Helper()
		s := m.Stats()
		if files := chunkFiles(t, m.Dir()); s.Chunks != len(files) {
			t.Errorf("%s: Stats().Chunks = %d, but there are %d chunk files", step, s.Chunks, len(files))
		}
		if s.Mapped > 2 || s.Pinned != 0 {
			t.Errorf("%s: Stats().Mapped, Pinned = %d, %d, want at most 2, 0", step, s.Mapped, s.Pinned)
		}
		if s.Maps-s.Unmaps != int64(s.Mapped) {
			t.Errorf("%s: Maps - Unmaps = %d - %d, want Mapped %d", step, s.Maps, s.Unmaps, s.Mapped)
		}
	}
	check("new")
	writeAt(t, m, pattern(1, 3*cs), 0)
	check("WriteAt")
	if err := m.Grow(4 * cs); err != nil {
		t.Fatal(err)
	}
	check("Grow")
	if _, err := m.Append(pattern(2, 2*cs)); err != nil {
		t.Fatal(err)
	}
	check("Append")
	if err := m.Truncate(2*cs + 1); err != nil {
		t.Fatal(err)
	}
	check("Truncate")
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	check("DropBefore")
	s0 := m.Stats()
	readAt(t, m, cs, 10)
	readAt(t, m, 2*cs, 1)
	readAt(t, m, cs, 10)
	s := m.Stats()
	if s.Misses+s.Hits == s0.Misses+s0.Hits || s.Maps < s0.Maps {
		t.Errorf("Stats after reads = %+v, before %+v: lookups not counted", s, s0)
	}
	m = reopen(t, m, nil)
	check("reopen")
	if s := m.Stats(); s.Mapped != 0 || s.Maps != 0 || s.Chunks != 2 {
		t.Errorf("after reopen Stats() = %+v, want Mapped 0, Maps 0, Chunks 2", s)
	}
}

// TestManager_Concurrent runs readers, writers of disjoint regions,
// appenders and a tailer at once while two chunks are mapped at a time,
// with every miss mapping its chunk and with Admission serving most misses
// by pread and pwrite while chunks are mapped and evicted under them.
func TestManager_Concurrent(t *testing.T) {
	for _, admission := range []bool{false, true} {
		t.Run(fmt.Sprintf("admission=%t", admission), func(t *testing.T) {
			testConcurrent(t, admission)
		})
	}
}

func testConcurrent(t *testing.T, admission bool) {
	const (
		roChunks     = 4 // [0, roChunks) read only
		writers      = 3
		writerChunks = 3
		appenders    = 3
		records      = 100
		readers      = 3
		hdr          = 16
	)
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: !admission})
	ro := pattern(1, roChunks*cs)
	writeAt(t, m, ro, 0)
	wBase := int64(roChunks * cs)
	if err := m.Truncate(wBase + writers*writerChunks*cs); err != nil {
		t.Fatal(err)
	}
	initial := m.Size()

	record := func(id, seq int) []byte {
		n := 1 + (seq*7919+id*104729)%(cs/8)
		if seq%10 == 0 {
			n += cs // some records span a whole chunk
		}
		p := make([]byte, hdr, hdr+n)
		copy(p, "REC:")
		binary.LittleEndian.PutUint16(p[4:], uint16(id))
		binary.LittleEndian.PutUint32(p[6:], uint32(seq))
		binary.LittleEndian.PutUint32(p[10:], uint32(n))
		return append(p, pattern(uint64(id<<20|seq), n)...)
	}

	var (
		wg      sync.WaitGroup
		done    atomic.Bool
		stop    atomic.Bool // set on the first failure
		offsets [appenders][records]int64
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		stop.Store(true)
	}
	var regions [writers][]byte
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			base := wBase + int64(w*writerChunks*cs)
			region := make([]byte, writerChunks*cs)
			for i := 0; i < 200 && !stop.Load(); i++ {
				n := 1 + rng.IntN(cs+100)
				o := rng.IntN(len(region) - n)
				p := pattern(uint64(w<<20|i), n)
				if k, err := m.WriteAt(p, base+int64(o)); k != n || err != nil {
					fail("writer %d: WriteAt(%d bytes, %d) = %d, %v", w, n, base+int64(o), k, err)
					return
				}
				copy(region[o:], p)
				o = rng.IntN(len(region) - 64)
				got := make([]byte, 64)
				if _, err := m.ReadAt(got, base+int64(o)); err != nil || !bytes.Equal(got, region[o:o+64]) {
					fail("writer %d: ReadAt(64, %d) = %v, or other bytes than written", w, base+int64(o), err)
					return
				}
			}
			regions[w] = region
		})
	}
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			got := make([]byte, 2*cs)
			for i := 0; i < 250 && !stop.Load(); i++ {
				n := 1 + rng.IntN(2*cs)
				o := rng.Int64N(int64(len(ro) - n + 1))
				if k, err := m.ReadAt(got[:n], o); k != n || err != nil {
					fail("reader %d: ReadAt(%d bytes, %d) = %d, %v", r, n, o, k, err)
					return
				}
				if !bytes.Equal(got[:n], ro[o:o+int64(n)]) {
					fail("reader %d: ReadAt(%d bytes, %d) read other bytes than written", r, n, o)
					return
				}
			}
		})
	}
	var appendWG sync.WaitGroup
	for a := range appenders {
		appendWG.Go(func() {
			for seq := 0; seq < records && !stop.Load(); seq++ {
				off, err := m.Append(record(a, seq))
				if err != nil {
					fail("appender %d: Append: %v", a, err)
					return
				}
				offsets[a][seq] = off
			}
		})
	}
	// The tailer follows Size: everything below it must be whole records,
	// because Size only covers an append once all earlier ones are done.
	tailed := 0
	wg.Go(func() {
		cur := initial
		h := make([]byte, hdr)
		for !stop.Load() {
			size := m.Size()
			if cur+hdr > size {
				if done.Load() && cur == m.Size() {
					return
				}
				time.Sleep(50 * time.Microsecond)
				continue
			}
			if _, err := m.ReadAt(h, cur); err != nil {
				fail("tailer: ReadAt(header, %d) below Size %d: %v", cur, size, err)
				return
			}
			id, seq, n := int(binary.LittleEndian.Uint16(h[4:])), int(binary.LittleEndian.Uint32(h[6:])), int64(binary.LittleEndian.Uint32(h[10:]))
			if string(h[:4]) != "REC:" || id >= appenders || seq >= records || cur+hdr+n > size {
				fail("tailer: no whole record at %d below Size %d: header %q", cur, size, h)
				return
			}
			body := make([]byte, n)
			if _, err := m.ReadAt(body, cur+hdr); err != nil {
				fail("tailer: ReadAt(%d bytes, %d): %v", n, cur+hdr, err)
				return
			}
			if !bytes.Equal(body, record(id, seq)[hdr:]) {
				fail("tailer: record %d/%d at %d is damaged", id, seq, cur)
				return
			}
			cur += hdr + n
			tailed++
		}
	})
	// The bound holds throughout: nothing is pinned here.
	wg.Go(func() {
		for !done.Load() && !stop.Load() {
			if s := m.Stats(); s.Mapped > 2 || s.Pinned != 0 {
				fail("Stats().Mapped, Pinned = %d, %d, want at most 2, 0", s.Mapped, s.Pinned)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	appendWG.Wait()
	done.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Appends tile [initial, Size) exactly, each intact at its offset.
	type extent struct{ off, end int64 }
	var spans []extent
	total := int64(0)
	for a := range appenders {
		for seq := range records {
			rec := record(a, seq)
			off := offsets[a][seq]
			spans = append(spans, extent{off, off + int64(len(rec))})
			total += int64(len(rec))
			got := make([]byte, len(rec))
			if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, rec) {
				t.Fatalf("record %d/%d at %d: %v, or damaged", a, seq, off, err)
			}
		}
	}
	slices.SortFunc(spans, func(x, y extent) int { return cmp.Compare(x.off, y.off) })
	at := initial
	for _, s := range spans {
		if s.off != at {
			t.Fatalf("appends overlap or leave a hole: one at %d, want %d", s.off, at)
		}
		at = s.end
	}
	if got := m.Size(); got != initial+total {
		t.Errorf("Size() = %d, want %d", got, initial+total)
	}
	if tailed != appenders*records {
		t.Errorf("tailer saw %d records, want %d", tailed, appenders*records)
	}
	md := model{data: readAt(t, m, 0, int(m.Size()))}
	if !bytes.Equal(md.data[:len(ro)], ro) {
		t.Error("the read-only region changed")
	}
	for w, region := range regions {
		base := wBase + int64(w*writerChunks*cs)
		if !bytes.Equal(md.data[base:base+int64(len(region))], region) {
			t.Errorf("writer %d's region differs from its model", w)
		}
	}
	m = reopen(t, m, &chunkmap.Options{MaxMapped: 2})
	md.check(t, m)
}

// TestManager_ConcurrentPinSyncDrop mixes pins, writes through pins, Sync,
// Grow and DropBefore of a region other goroutines still read.
func TestManager_ConcurrentPinSyncDrop(t *testing.T) {
	const (
		dropChunks = 6 // [0, dropChunks) is dropped chunk by chunk
		workers    = 3
		workChunks = 2
	)
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	head := pattern(1, dropChunks*cs)
	writeAt(t, m, head, 0)
	wBase := int64(dropChunks * cs)
	if err := m.Truncate(wBase + workers*workChunks*cs); err != nil {
		t.Fatal(err)
	}
	var (
		work    sync.WaitGroup // workers and the dropper
		wg      sync.WaitGroup // the reader and the syncer
		done    atomic.Bool
		regions [workers][]byte
	)
	for w := range workers {
		work.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			base := wBase + int64(w*workChunks*cs)
			region := make([]byte, workChunks*cs)
			for i := range 200 {
				o := rng.IntN(len(region) - 256)
				n := 1 + rng.IntN(256)
				if c := (o + n - 1) / cs; c != o/cs {
					n = c*cs - o // a pin stays within its chunk
				}
				p := pattern(uint64(w<<20|i), n)
				switch i % 3 {
				case 0:
					pin, err := m.PinWritable(base+int64(o), n)
					if err != nil {
						t.Errorf("worker %d: PinWritable(%d, %d): %v", w, base+int64(o), n, err)
						return
					}
					copy(pin.Bytes(), p)
					pin.Release()
				case 1:
					if _, err := m.WriteAt(p, base+int64(o)); err != nil {
						t.Errorf("worker %d: WriteAt: %v", w, err)
						return
					}
				case 2:
					pin, err := m.Pin(base+int64(o), n)
					if err != nil {
						t.Errorf("worker %d: Pin(%d, %d): %v", w, base+int64(o), n, err)
						return
					}
					if !bytes.Equal(pin.Bytes(), region[o:o+n]) {
						t.Errorf("worker %d: pinned bytes differ from its model", w)
					}
					pin.Release()
					continue
				}
				copy(region[o:], p)
			}
			regions[w] = region
		})
	}
	// A reader of the region being dropped gets either the bytes or
	// ErrOutOfRange, never other bytes, a fault or a crash. The dropper
	// waits for some reads between drops.
	var reads atomic.Int64
	readerDone := make(chan struct{})
	wg.Go(func() {
		defer close(readerDone)
		rng := rand.New(rand.NewPCG(9, 9))
		got := make([]byte, 300)
		for !done.Load() {
			start := m.Start()
			if start >= int64(len(head)-len(got)) {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			o := start + rng.Int64N(int64(len(head)-len(got))-start)
			n, err := m.ReadAt(got, o)
			if errors.Is(err, chunkmap.ErrOutOfRange) {
				continue
			}
			if err != nil || n != len(got) || !bytes.Equal(got, head[o:o+int64(n)]) {
				t.Errorf("ReadAt(%d, %d) of the dropped region = %d, %v, or other bytes", len(got), o, n, err)
				return
			}
			reads.Add(1)
		}
	})
	var syncs atomic.Int64
	wg.Go(func() {
		for !done.Load() {
			if err := m.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
				return
			}
			syncs.Add(1)
		}
	})
	work.Go(func() {
		for i := int64(1); i <= dropChunks; i++ {
			for r := reads.Load(); reads.Load() < r+20; {
				select {
				case <-readerDone:
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
			if err := m.DropBefore(i * cs); err != nil {
				t.Errorf("DropBefore(%d): %v", i*cs, err)
				return
			}
			if err := m.Grow(i * cs); err != nil {
				t.Errorf("Grow(%d): %v", i*cs, err)
				return
			}
		}
	})
	work.Wait()
	done.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	if m.Start() != dropChunks*cs {
		t.Errorf("Start() = %d, want %d", m.Start(), dropChunks*cs)
	}
	md := model{start: wBase, data: make([]byte, wBase)}
	for _, region := range regions {
		md.data = append(md.data, region...)
	}
	md.check(t, m)
	m = reopen(t, m, nil)
	md.check(t, m)
	if syncs.Load() == 0 {
		t.Error("no Sync ran")
	}
}

// TestManager_ManyChunks builds a dataset of 10,000 chunks of 64 KiB
// through the Manager, reopens it, and scans it with three chunks mapped.
//
// Every 7th chunk (and the last) gets a stamp naming its index; the others
// must read zeros at the same place, so a read served from a neighbouring
// chunk shows. Stamping every chunk would make Close fsync 10,000 files.
func TestManager_ManyChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a dataset of 625 MiB")
	}
	const maxMapped = 3
	nchunks := int64(10000)
	if raceEnabled {
		nchunks = 2500 // still hundreds of times MaxMapped, at a quarter of the race detector's time
	}
	stamped := func(i int64) bool { return i%7 == 0 || i == nchunks-1 }
	stamp := func(i int64) (int64, []byte) {
		p := make([]byte, 16)
		binary.LittleEndian.PutUint64(p, uint64(i))
		binary.LittleEndian.PutUint64(p[8:], ^uint64(i))
		return i*cs + (i*8)%(cs-16), p
	}
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true})
	// Grow allocates every block: a small file system refuses it up front.
	if free, err := chunkmap.FreeSpace(m); err == nil && free < nchunks*cs {
		t.Skipf("builds a dataset of 625 MiB; the file system of %s has %d bytes free", m.Dir(), free)
	}
	t0 := time.Now()
	if err := m.Grow(nchunks * cs); err != nil {
		t.Fatal(err)
	}
	t.Logf("Grow to %d chunks: %v", nchunks, time.Since(t0))
	t1 := time.Now()
	for i := range nchunks {
		if stamped(i) {
			off, p := stamp(i)
			writeAt(t, m, p, off)
		}
	}
	if err := m.Truncate(nchunks * cs); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Chunks; int64(got) != nchunks {
		t.Fatalf("Stats().Chunks = %d, want %d", got, nchunks)
	}
	t.Logf("stamping: %v", time.Since(t1))
	t1 = time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close: %v; building took %v in all", time.Since(t1), time.Since(t0))

	t1 = time.Now()
	m = openTestManager(t, m.Dir(), &chunkmap.Options{MaxMapped: maxMapped, NoAdmission: true})
	t.Logf("Open: %v", time.Since(t1))
	if s := m.Stats(); s.Mapped != 0 || s.Maps != 0 || int64(s.Chunks) != nchunks {
		t.Fatalf("after Open Stats() = %+v, want Mapped 0, Maps 0, Chunks %d", s, nchunks)
	}
	if live, retired, doomed := m.Mappings(); live+retired+doomed != 0 {
		t.Fatalf("after Open: %d live, %d retired, %d doomed mappings, want none", live, retired, doomed)
	}
	if m.Size() != nchunks*cs {
		t.Fatalf("Size() = %d, want %d", m.Size(), nchunks*cs)
	}
	zero := make([]byte, 16)
	check := func(i int64) {
		off, want := stamp(i)
		if !stamped(i) {
			want = zero
		}
		if got := readAt(t, m, off, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: bytes at %d = %x, want %x", i, off, got, want)
		}
		if got := readAt(t, m, off+16, 8); !bytes.Equal(got, zero[:8]) {
			t.Fatalf("chunk %d: bytes after the stamp = %x, want zeros", i, got)
		}
		if s := m.Stats(); s.Mapped > maxMapped {
			t.Fatalf("chunk %d: Stats().Mapped = %d, want at most %d", i, s.Mapped, maxMapped)
		}
	}
	t1 = time.Now()
	for i := range nchunks {
		check(i)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for range 2000 {
		check(rng.Int64N(nchunks))
	}
	t.Logf("scan: %v", time.Since(t1))
	if s := m.Stats(); s.Maps < nchunks || s.Evictions < nchunks-maxMapped {
		t.Errorf("Stats() = %+v, want at least %d maps and %d evictions", s, nchunks, nchunks-maxMapped)
	}
}
