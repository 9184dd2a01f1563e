//go:build linux

package chunkmap_test

// Tests of what other programs and the system can do to a dataset while it
// is open: chunk files and the manifest truncated or removed from outside,
// the descriptor limit reached during Sync, and a full disk. Each checks
// that the Manager reports the damage with the right sentinel, never
// crashes, never silently regrows a file to an odd size, and that a failure
// that is not an fsync's does not poison later Syncs.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// openDurability opens the dataset in dir and closes it when the test ends
// (ignoring the error: these tests damage their datasets on purpose, and
// check Close themselves where it matters).
func openDurability(t *testing.T, dir string, opts chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", dir, opts, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// fileSize returns the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// wantErrNaming fails unless err matches target and its message names path.
func wantErrNaming(t *testing.T, what string, err, target error, path string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("%s: error %q does not name %s", what, err, path)
	}
}

// newestRecord returns the valid record of dir's manifest with the higher
// sequence number.
func newestRecord(t *testing.T, dir string) record {
	t.Helper()
	b := readManifestFile(t, dir)
	var best record
	for slot := range 2 {
		if r := parseRecord(recordIn(b, slot)); r.valid() && r.seq >= best.seq {
			best = r
		}
	}
	if !best.valid() {
		t.Fatalf("manifest of %s holds no valid record", dir)
	}
	return best
}

// TestDurability_TruncatedChunk truncates a chunk file from outside, to half
// its size or to nothing, and writes into it on each of the write paths:
// pwrite of a bulk write, pwrite of a small write that Admission does not
// map, and a store through the mapping. Each must fail with ErrFault naming
// the file, and must leave the file as the truncation left it: a pwrite
// past its end, or an allocation, would regrow it silently to an odd size.
// The next Open must refuse the dataset as corrupt.
func TestDurability_TruncatedChunk(t *testing.T) {
	const victim = 1 // the chunk truncated
	paths := []struct {
		name string
		opts chunkmap.Options
		// prep brings chunk victim into the state the path needs.
		prep  func(t *testing.T, m *chunkmap.Manager)
		off   int64 // where the write goes, in chunk victim
		n     int   // how many bytes
		pread bool  // the chunk is not mapped: no mapping may be made
	}{
		{
			name: "pwrite/bulk",
			opts: chunkmap.Options{ChunkSize: cs, MaxMapped: 4},
			prep: func(t *testing.T, m *chunkmap.Manager) {
				readAt(t, m, victim*cs+8, 8) // mapped: bulk writes still take pwrite
			},
			off: victim * cs, n: cs,
		},
		{
			name: "pwrite/admission",
			opts: chunkmap.Options{ChunkSize: cs, MaxMapped: 1},
			prep: func(t *testing.T, m *chunkmap.Manager) {
				for range 4 { // chunk 0 takes the one place, and is used
					readAt(t, m, 8, 8)
				}
			},
			off: victim*cs + 3*cs/4, n: 16, pread: true,
		},
		{
			name: "pwrite/admission/surviving-half",
			opts: chunkmap.Options{ChunkSize: cs, MaxMapped: 1},
			prep: func(t *testing.T, m *chunkmap.Manager) {
				for range 4 {
					readAt(t, m, 8, 8)
				}
			},
			off: victim*cs + 100, n: 16, pread: true,
		},
		{
			name: "mapped/NoAdmission",
			opts: chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: true},
			prep: func(t *testing.T, m *chunkmap.Manager) {
				readAt(t, m, victim*cs+8, 8) // mapped; its blocks not yet known allocated
			},
			off: victim*cs + 3*cs/4, n: 16,
		},
		{
			name: "mapped/NoAdmission/hot",
			opts: chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: true},
			prep: func(t *testing.T, m *chunkmap.Manager) {
				// A small store allocates the chunk, so the next one takes
				// the lock-free path and faults there first.
				writeAt(t, m, []byte("warm"), victim*cs+8)
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
			},
			off: victim*cs + 3*cs/4, n: 16,
		},
	}
	for _, p := range paths {
		for _, keep := range []int64{cs / 2, 0} {
			t.Run(fmt.Sprintf("%s/truncated=%d", p.name, keep), func(t *testing.T) {
				dir := t.TempDir()
				m := openDurability(t, dir, p.opts)
				data := pattern(1, 3*cs)
				writeAt(t, m, data, 0)
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
				p.prep(t, m)
				path := filepath.Join(dir, chunk.Name(victim))
				if err := os.Truncate(path, keep); err != nil {
					t.Fatal(err)
				}
				before := m.Stats()
				_, err := m.WriteAt(pattern(2, p.n), p.off)
				wantErrNaming(t, fmt.Sprintf("WriteAt(%d bytes at %d) into %s truncated to %d", p.n, p.off, path, keep), err, chunkmap.ErrFault, path)
				if got := fileSize(t, path); got != keep {
					t.Errorf("after the failed write, %s is %d bytes, want %d (as the truncation left it)", path, got, keep)
				}
				if after := m.Stats(); p.pread && after.Maps != before.Maps {
					t.Errorf("the write mapped a chunk (Maps %d -> %d): it did not take the pwrite path", before.Maps, after.Maps)
				}
				// The rest of the dataset works.
				if got := readAt(t, m, 2*cs+5, 100); !bytes.Equal(got, data[2*cs+5:][:100]) {
					t.Errorf("a healthy chunk reads wrong after the fault")
				}
				writeAt(t, m, []byte("after"), 2*cs+10)
				// The failed write was reported; Sync has nothing it can
				// know was lost, and must not crash.
				t.Logf("Sync after the fault: %v", m.Sync())
				t.Logf("Close after the fault: %v", m.Close())
				if got := fileSize(t, path); got != keep {
					t.Errorf("after Close, %s is %d bytes, want %d", path, got, keep)
				}
				r, err := chunkmap.Open(dir, &chunkmap.Options{})
				if err == nil {
					r.Close()
				}
				wantErrNaming(t, "Open after the truncation", err, chunkmap.ErrCorrupt, path)
			})
		}
	}
}

// TestDurability_SyncDirtyChunkDamaged dirties a chunk, then another
// program removes its file, or truncates it in place (the same file, cut to
// 0 bytes or extended to twice ChunkSize), with the chunk still mapped or
// evicted (fsynced by name): what was written to it is in doubt, so every
// Sync, and Close, must say so with ErrFault naming the file, never return
// nil.
func TestDurability_SyncDirtyChunkDamaged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(path string) error
		evicted bool
		says    string // in the message
	}{
		{"removed, evicted", os.Remove, true, "removed"},
		{"truncated, mapped", func(p string) error { return os.Truncate(p, 0) }, false, "truncated"},
		{"truncated, evicted", func(p string) error { return os.Truncate(p, 0) }, true, "truncated"},
		{"extended, mapped", func(p string) error { return os.Truncate(p, 2*cs) }, false, "extended"},
		{"extended, evicted", func(p string) error { return os.Truncate(p, 2*cs) }, true, "extended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openDurability(t, dir, chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
			if err := m.Truncate(3 * cs); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			writeAt(t, m, []byte("lost"), 100) // chunk 0, mapped and dirty
			if tc.evicted {
				writeAt(t, m, []byte("kept"), cs+100) // chunk 1 takes the one place: 0 is evicted dirty
				if st := m.Stats(); st.Evictions == 0 {
					t.Fatalf("chunk 0 was not evicted: %+v", st)
				}
			}
			path := filepath.Join(dir, chunk.Name(0))
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				err := m.Sync()
				wantErrNaming(t, fmt.Sprintf("Sync %d after %s was %s", i+1, path, tc.says), err, chunkmap.ErrFault, path)
				if err != nil && !strings.Contains(err.Error(), tc.says) {
					t.Errorf("Sync %d: %v, want it to say the file was %s", i+1, err, tc.says)
				}
			}
			if err := m.Close(); !errors.Is(err, chunkmap.ErrFault) {
				t.Errorf("Close after a dirty chunk file was %s: %v, want ErrFault", tc.says, err)
			}
		})
	}
}

// TestDurability_ManifestRemoved removes the manifest from outside: every
// later Sync must report ErrCorrupt, whether or not it has a new record to
// write (the records go to a file no Open will read), and so must Truncate,
// whose record must exist before it deletes files.
func TestDurability_ManifestRemoved(t *testing.T) {
	for _, pending := range []bool{false, true} {
		t.Run(fmt.Sprintf("pending=%v", pending), func(t *testing.T) {
			dir := t.TempDir()
			m := openDurability(t, dir, chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			writeAt(t, m, pattern(1, 2*cs+10), 0)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(manifestPath(dir)); err != nil {
				t.Fatal(err)
			}
			if pending {
				if _, err := m.Append([]byte("more")); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				wantErrNaming(t, fmt.Sprintf("Sync %d after the manifest was removed", i+1), m.Sync(), chunkmap.ErrCorrupt, manifestPath(dir))
			}
			wantErrNaming(t, "Truncate after the manifest was removed", m.Truncate(cs), chunkmap.ErrCorrupt, manifestPath(dir))
			if _, err := os.Stat(manifestPath(dir)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a manifest reappeared: %v", err)
			}
			if err := m.Close(); !errors.Is(err, chunkmap.ErrCorrupt) {
				t.Errorf("Close after the manifest was removed: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestDurability_ManifestRemovedTruncateUnrecorded: a Truncate that
// deletes chunk files past a Size the manifest never recorded has no record
// to write, and returned nil over a removed manifest (deleting the files);
// it reports ErrCorrupt as every Truncate that deletes files does, and
// does nothing.
func TestDurability_ManifestRemovedTruncateUnrecorded(t *testing.T) {
	dir := t.TempDir()
	m := openDurability(t, dir, chunkmap.Options{ChunkSize: cs})
	writeAt(t, m, pattern(1, cs+10), 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	writeAt(t, m, pattern(2, 3*cs), cs+10) // 5 chunks, not recorded
	if err := os.Remove(manifestPath(dir)); err != nil {
		t.Fatal(err)
	}
	size := m.Size()
	wantErrNaming(t, "Truncate deleting unrecorded chunks after the manifest was removed", m.Truncate(3*cs), chunkmap.ErrCorrupt, manifestPath(dir))
	if got := m.Size(); got != size {
		t.Errorf("Size after the refused Truncate = %d, want %d", got, size)
	}
	for idx := int64(3); idx < 5; idx++ {
		if _, err := os.Stat(filepath.Join(dir, chunk.Name(idx))); err != nil {
			t.Errorf("chunk %d after the refused Truncate: %v, want it kept", idx, err)
		}
	}
}

// TestDurability_ManifestRemovedDropRecorded: a DropBefore whose Start a
// record holds already (a crash inside an earlier DropBefore left it, the
// page of this boot still at the old Start) has no record to write, and
// returned nil over a removed manifest, deleting the chunk files below the
// new Start. It reports ErrCorrupt, and does nothing.
func TestDurability_ManifestRemovedDropRecorded(t *testing.T) {
	dir := t.TempDir()
	m := openDurability(t, dir, chunkmap.Options{ChunkSize: cs})
	writeAt(t, m, pattern(1, 4*cs), 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The record the crashed DropBefore wrote before it moved the page.
	editManifestFile(t, dir, func(b []byte) {
		r := recordIn(b, newestSlot(t, b))
		binary.LittleEndian.PutUint64(r[24:], 2) // first chunk
		resealRecord(r)
	})
	m = openDurability(t, dir, chunkmap.Options{ChunkSize: cs})
	if got := m.Start(); got != 0 {
		t.Fatalf("Start after the reopen = %d, want the page's 0", got)
	}
	if err := os.Remove(manifestPath(dir)); err != nil {
		t.Fatal(err)
	}
	wantErrNaming(t, "DropBefore to the recorded Start after the manifest was removed", m.DropBefore(2*cs), chunkmap.ErrCorrupt, manifestPath(dir))
	if got := m.Start(); got != 0 {
		t.Errorf("Start after the refused DropBefore = %d, want 0", got)
	}
	for idx := int64(0); idx < 2; idx++ {
		if _, err := os.Stat(filepath.Join(dir, chunk.Name(idx))); err != nil {
			t.Errorf("chunk %d after the refused DropBefore: %v, want it kept", idx, err)
		}
	}
}

// TestDurability_ManifestTruncated truncates the manifest under the open
// writer, whose state page is a mapping of it: the writer must not crash
// when it next mirrors Size or Start there; the call that changes Size
// reports ErrCorrupt, as a crash of the process would lose its change,
// but makes it; every later change is refused with ErrCorrupt; reads keep
// working; every Sync reports ErrCorrupt; and no call writes a record into
// the truncated file (which would regrow it to an odd size).
func TestDurability_ManifestTruncated(t *testing.T) {
	dir := t.TempDir()
	m := openDurability(t, dir, chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	p := pattern(1, 2*cs+10)
	writeAt(t, m, p, 0)
	md.writeAt(p, 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(manifestPath(dir), 0); err != nil {
		t.Fatal(err)
	}
	// Every change of Size or Start stores to the state page. The first
	// store faults: that call fails, since a crash would lose its
	// change, but the change is made in this process. Every later one is
	// refused with nothing done, as the page cannot be written again.
	p = pattern(2, 3*cs)
	n, err := m.WriteAt(p, cs+7) // past Size, across chunks
	wantErrNaming(t, "WriteAt past Size after the manifest was truncated", err, chunkmap.ErrCorrupt, manifestPath(dir))
	if n != len(p) {
		t.Fatalf("WriteAt past Size after the manifest was truncated wrote %d bytes, want %d", n, len(p))
	}
	md.writeAt(p, cs+7)
	_, err = m.Append([]byte("appended"))
	wantErrNaming(t, "Append after the manifest was truncated", err, chunkmap.ErrCorrupt, manifestPath(dir))
	md.check(t, m)
	for i := range 2 {
		wantErrNaming(t, fmt.Sprintf("Sync %d after the manifest was truncated", i+1), m.Sync(), chunkmap.ErrCorrupt, manifestPath(dir))
	}
	wantErrNaming(t, "Truncate after the manifest was truncated", m.Truncate(2*cs), chunkmap.ErrCorrupt, manifestPath(dir))
	wantErrNaming(t, "DropBefore after the manifest was truncated", m.DropBefore(cs), chunkmap.ErrCorrupt, manifestPath(dir))
	md.check(t, m)
	if got := fileSize(t, manifestPath(dir)); got != 0 {
		t.Errorf("the truncated manifest is %d bytes now, want 0: a record was written into it", got)
	}
	if err := m.Close(); !errors.Is(err, chunkmap.ErrCorrupt) {
		t.Errorf("Close after the manifest was truncated: %v, want ErrCorrupt", err)
	}
	r, err := chunkmap.Open(dir, nil)
	if err == nil {
		r.Close()
	}
	wantErrNaming(t, "Open after the manifest was truncated", err, chunkmap.ErrCorrupt, manifestPath(dir))
}

// TestDurability_ManifestExtended grows the manifest under the open
// writer: Sync reports ErrCorrupt naming it, and says it was extended, not
// truncated (which it said of any manifest not of its length).
func TestDurability_ManifestExtended(t *testing.T) {
	dir := t.TempDir()
	m := openDurability(t, dir, chunkmap.Options{ChunkSize: cs})
	writeAt(t, m, pattern(1, cs+10), 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(manifestPath(dir), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	err = m.Sync()
	wantErrNaming(t, "Sync after the manifest was extended", err, chunkmap.ErrCorrupt, manifestPath(dir))
	if msg := fmt.Sprint(err); !strings.Contains(msg, "extended to 14096 bytes") || strings.Contains(msg, "truncated") {
		t.Errorf("Sync after the manifest was extended by 10000 bytes: %v, want it to say it was extended to 14096 bytes", err)
	}
}

// lowerFileLimit sets the soft descriptor limit so that the next open in
// this process fails with EMFILE (the lowest free descriptor reaches it),
// and returns a function that restores the limit; the test's cleanup
// restores it too. The limit is per process: the test must not run in
// parallel with others.
func lowerFileLimit(t *testing.T) (restore func()) {
	t.Helper()
	restore = limitFiles(t, 0)
	if f, err := os.Open(os.DevNull); err == nil {
		f.Close()
		restore()
		t.Skip("opening a file still succeeds under the lowered limit")
	}
	return restore
}

// limitFiles sets the soft descriptor limit to spare descriptors past the
// highest one in use, with every free one below it taken by a file of its
// own, and returns a function that restores the limit and closes those;
// the test's cleanup restores it too. So a descriptor the code under test
// closes can be opened again, as under a real limit: with a free one left
// below (an earlier test's file that the garbage collector closed), the
// limit would fall below the code's own descriptors, and closing them
// would free nothing it may open. It skips the test where the limit
// cannot be read or set.
//
// Managers earlier tests dropped without Close are collected first, and
// their files closed: a call refused a descriptor takes back the idle
// cached files of the process's other Managers, and theirs would give it
// descriptors the test means to leave it none of.
func limitFiles(t *testing.T, spare uint64) (restore func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	for i, was := 0, -1; i < 50; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond) // the cleanups that close them run on a goroutine of the runtime
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil || len(fds) == was {
			break
		}
		was = len(fds)
	}
	highest := highestFd(t)
	var fillers []*os.File
	var lowest uint64 // the lowest free descriptor past every one in use
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		if lowest = uint64(f.Fd()); lowest > highest {
			f.Close() // free again, the first past the limit's base
			break
		}
		fillers = append(fillers, f)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
		for _, f := range fillers {
			f.Close()
		}
	}
	t.Cleanup(restore)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: lowest + spare, Max: old.Max}); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	return restore
}

// holdFiles opens n files for the rest of the test, to raise what a later
// limitFiles leaves the process.
func holdFiles(t *testing.T, n int) {
	t.Helper()
	for range n {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
	}
}

// highestFd returns the highest descriptor the process has open, as its
// descriptor directory lists them; 0 where there is none to read.
func highestFd(t *testing.T) uint64 {
	t.Helper()
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		var highest uint64
		for _, e := range entries {
			if fd, err := strconv.ParseUint(e.Name(), 10, 64); err == nil {
				highest = max(highest, fd)
			}
		}
		return highest
	}
	return 0
}

// TestDurability_SyncOutOfDescriptors makes Sync unable to open the files of
// evicted dirty chunks, and the directory, for lack of descriptors: that
// Sync fails, but nothing was lost (the writes are in the page cache), so
// the Manager is not poisoned: once descriptors are available the next
// Sync succeeds and records Size, and the data is there after a reopen.
func TestDurability_SyncOutOfDescriptors(t *testing.T) {
	dir := t.TempDir()
	opts := chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true}
	m := openDurability(t, dir, opts)
	var md model
	md.truncate(3 * cs)
	if err := m.Truncate(3 * cs); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range int64(3) { // each evicts the chunk before it, dirty
		p := pattern(uint64(10+i), 1000)
		writeAt(t, m, p, i*cs+500)
		md.writeAt(p, i*cs+500)
	}
	// A new chunk file: the directory must be synced too.
	p := pattern(20, 300)
	off, err := m.Append(p)
	if err != nil {
		t.Fatal(err)
	}
	md.writeAt(p, off)

	// A Manager refused a descriptor closes its idle cached files, then
	// unmaps its unheld chunks, and tries again, which would find one:
	// with none cached and its one mapped chunk pinned, it has none to
	// give back.
	chunkmap.DropFileCache(m)
	pin, err := m.Pin(off, len(p))
	if err != nil {
		t.Fatal(err)
	}
	restore := lowerFileLimit(t)
	err = m.Sync()
	// A store through the mapping needs no descriptor.
	p = pattern(21, 50)
	_, werr := m.WriteAt(p, off+10)
	restore()
	pin.Release()
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Sync without descriptors: %v, want EMFILE", err)
	}
	if werr != nil {
		t.Fatalf("WriteAt into a mapped chunk without descriptors: %v", werr)
	}
	md.writeAt(p, off+10)

	if err := m.Sync(); err != nil {
		t.Fatalf("Sync once descriptors are available again: %v (an open that failed must not poison the Manager)", err)
	}
	if r := newestRecord(t, dir); r.size != int64(len(md.data)) {
		t.Errorf("after the Sync the newest record says Size %d, want %d", r.size, len(md.data))
	}
	p = pattern(22, 64)
	writeAt(t, m, p, 10)
	md.writeAt(p, 10)
	if err := m.Sync(); err != nil {
		t.Fatalf("third Sync: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	md.check(t, openDurability(t, dir, opts))
}

// TestDurability_OutOfDescriptorsGivesBack checks a Manager that holds
// idle cached files when the process has no descriptor left: Sync (which
// fsyncs evicted chunks through their cached files, opens the others and
// the directory), growth (which creates a chunk file) and Close must close
// those files and go on, not fail. With uncached, one evicted chunk has no
// cached file, and Sync opens it by name.
func TestDurability_OutOfDescriptorsGivesBack(t *testing.T) {
	for _, uncached := range []bool{false, true} {
		t.Run(fmt.Sprintf("uncached=%v", uncached), func(t *testing.T) { outOfDescriptorsGivesBack(t, uncached) })
	}
}

func outOfDescriptorsGivesBack(t *testing.T, uncached bool) {
	dir := t.TempDir()
	opts := chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true}
	m := openDurability(t, dir, opts)
	var md model
	for i := range int64(4) { // each chunk made and its file cached; each write evicts the one before
		p := pattern(uint64(30+i), 700)
		writeAt(t, m, p, i*cs+100)
		md.writeAt(p, i*cs+100)
	}
	if uncached {
		// The cache's budget may leave a chunk without a cached file:
		// Sync opens it by name, with no descriptor free until it
		// closes the others, which it fsyncs through.
		chunkmap.DropCachedFile(m, 1)
	}
	restore := lowerFileLimit(t)
	serr := m.Sync()
	p := pattern(40, 300)
	_, werr := m.WriteAt(p, 5*cs) // a new chunk file, and a gap
	cerr := m.Close()
	restore()
	if serr != nil || werr != nil || cerr != nil {
		t.Fatalf("with no descriptor free but the Manager's own cached files: Sync %v, WriteAt past Size %v, Close %v; want all nil", serr, werr, cerr)
	}
	md.writeAt(p, 5*cs)
	md.check(t, openDurability(t, dir, opts))
}

// mountTmpfs mounts a tmpfs of size bytes at a new directory and unmounts
// it when the test ends (after every cleanup registered later, such as the
// closing of a Manager in it). It skips the test where mounting is not
// allowed.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): needs root", err)
	}
	// Detached: a test that fails midway may leave a Manager open, or a
	// pin held, whose mappings keep the file system busy.
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// freeBytes returns the bytes free for unprivileged use on dir's file
// system.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fillDisk appends to the file named name in dir (making it if need be)
// until the file system is full to the last byte.
func fillDisk(t *testing.T, dir, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0xee}, 64<<10)
	for _, n := range []int{len(buf), 4096, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
	if free := freeBytes(t, dir); free != 0 {
		t.Fatalf("after filling the disk %d bytes are free", free)
	}
}

// TestDurability_FullDisk fills a small tmpfs to the last byte under an
// open dataset: every write that needs new blocks must fail with an error
// matching ErrNoSpace (a store through a mapping into a hole would raise
// SIGBUS instead), an Append that fails must leave Size as it was, and
// writes into allocated space keep working. DropBefore, Truncate and Sync
// need no new blocks (the manifest record is written in place): they work
// on the full disk, and the first two free space for writes to succeed
// again. The dataset reopens with every byte that was acknowledged.
func TestDurability_FullDisk(t *testing.T) {
	root := mountTmpfs(t, 4<<20)
	dir := filepath.Join(root, "ds")
	opts := chunkmap.Options{ChunkSize: cs, MaxMapped: 4}
	// Holes below Size, as a file system that keeps them has; on tmpfs a
	// Manager allocates them (TestHoles_GrowOnFullTmpfs).
	was := chunkmap.SetKeepHoles(true)
	m := openDurability(t, dir, opts)
	chunkmap.SetKeepHoles(was)
	var md model
	write := func(p []byte, off int64) {
		t.Helper()
		writeAt(t, m, p, off)
		md.writeAt(p, off)
	}
	write(pattern(1, 8*cs), 0)
	// Chunk 8 exists but is a hole: Size covers only its first bytes.
	if err := m.Truncate(8*cs + 100); err != nil {
		t.Fatal(err)
	}
	md.truncate(8*cs + 100)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, root, "filler1")

	// Writes that need new blocks fail with ErrNoSpace, and change nothing.
	size := m.Size()
	needBlocks := []struct {
		name string
		do   func() error
	}{
		{"WriteAt into a hole, mapped", func() error { _, err := m.WriteAt([]byte("x"), 8*cs+50); return err }},
		{"bulk WriteAt into a hole", func() error { _, err := m.WriteAt(pattern(2, cs-200), 8*cs+100); return err }},
		{"Append into a hole", func() error { _, err := m.Append([]byte("y")); return err }},
		{"bulk Append", func() error { _, err := m.Append(pattern(3, 2*cs)); return err }},
		{"Append of a new chunk", func() error {
			if _, err := m.Append(pattern(4, cs-100)); err != nil {
				return err
			}
			_, err := m.Append([]byte("z")) // chunk 9
			return err
		}},
		{"Grow", func() error { return m.Grow(cs) }},
	}
	for _, c := range needBlocks {
		if err := c.do(); !errors.Is(err, chunkmap.ErrNoSpace) {
			t.Errorf("%s on a full disk: %v, want ErrNoSpace", c.name, err)
		}
		if got := m.Size(); got != size {
			t.Errorf("%s on a full disk: Size %d -> %d, want it unchanged", c.name, size, got)
			md.truncate(got) // what the dataset now says
			size = got
		}
	}
	// A write past Size into bytes that must first be zeroed (a hole past
	// Size, left by the Truncate above) needs blocks for the zeros.
	if err := m.Truncate(8*cs + 10); err != nil {
		t.Fatalf("Truncate down on a full disk: %v", err)
	}
	md.truncate(8*cs + 10)
	if _, err := m.WriteAt([]byte("w"), 8*cs+90); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Errorf("WriteAt past Size over stale bytes on a full disk: %v, want ErrNoSpace", err)
	}
	md.check(t, m)
	// Allocated space takes writes, and Sync records in place.
	write(pattern(5, 3000), 5*cs-1000)
	write(pattern(6, 2*cs), 2*cs)
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync on a full disk: %v", err)
	}
	if r := newestRecord(t, dir); r.size != m.Size() {
		t.Errorf("the newest record says Size %d, want %d", r.size, m.Size())
	}

	// DropBefore needs no space, and frees some.
	free := freeBytes(t, root)
	if err := m.DropBefore(2 * cs); err != nil {
		t.Fatalf("DropBefore on a full disk: %v", err)
	}
	md.start = 2 * cs
	if got := freeBytes(t, root); got < free+2*cs {
		t.Errorf("DropBefore of 2 chunks freed %d bytes, want at least %d", got-free, 2*cs)
	}
	write([]byte("fits now"), 8*cs+50)
	off, err := m.Append([]byte("appended"))
	if err != nil {
		t.Fatalf("Append after DropBefore freed space: %v", err)
	}
	md.writeAt([]byte("appended"), off)
	md.check(t, m)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}

	// Full again: Truncate down (deleting chunks) and Sync still work.
	fillDisk(t, root, "filler2")
	if err := m.Truncate(6*cs + 123); err != nil {
		t.Fatalf("Truncate down on a full disk: %v", err)
	}
	md.truncate(6*cs + 123)
	write([]byte("allocated"), 6*cs+10)
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync on a full disk: %v", err)
	}
	if r := newestRecord(t, dir); r.size != m.Size() || r.first != 2 {
		t.Errorf("the newest record says first %d, Size %d; want 2, %d", r.first, r.size, m.Size())
	}
	md.check(t, m)
	if err := m.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	md.check(t, openDurability(t, dir, opts))
}

// TestDurability_NewDirectoryNamed checks that an Open that makes the
// dataset's directory (and parents of it) fsyncs the parent of each
// directory it made before it returns. A directory's name is an entry of
// its parent, durable only once the parent is fsync'd (the model of
// powerloss_linux_test.go: every name as of its directory's last fsync);
// without it a power loss may take the whole directory, and with it
// everything that Sync acknowledged.
func TestDurability_NewDirectoryNamed(t *testing.T) {
	tests := []struct {
		name string
		rel  string   // the dataset's directory, under a new temporary one
		made []string // the directories Open makes, outermost first
	}{
		{"dataset directory", "ds", []string{"ds"}},
		{"dataset directory and its parents", "a/b/ds", []string{"a", "a/b", "a/b/ds"}},
		{"path with a trailing separator", "c/ds/", []string{"c", "c/ds"}},
		// The low byte of 'Я' (U+042F) and of 'د' (U+062F) is '/': a
		// name holding them is one name, not two.
		{"names with runes whose low byte is a separator", "dataЯ/aدb", []string{"dataЯ", "dataЯ/aدb"}},
		{"a name that is one such rune", "Я", []string{"Я"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			rec := vfstest.NewRecorder(vfs.OS, "boot")
			rec.NoSync = true
			opts := chunkmap.Options{ChunkSize: chunkmap.MinChunkSize}
			chunkmap.SetFS(&opts, rec)
			dir := filepath.Join(root, tt.rel)
			if strings.HasSuffix(tt.rel, "/") {
				dir += "/"
			}
			m, err := chunkmap.Open(dir, &opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt([]byte("acknowledged"), 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			steps := rec.Log(1, rec.Steps())
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			mkdir := slices.IndexFunc(steps, func(s vfstest.Step) bool { return s.Kind == vfstest.KindMkdir })
			if mkdir < 0 {
				t.Fatalf("no mkdir recorded: %v", steps)
			}
			for _, d := range tt.made {
				parent := filepath.Dir(filepath.Join(root, d))
				if !slices.ContainsFunc(steps[mkdir:], func(s vfstest.Step) bool {
					return s.Kind == vfstest.KindSyncDir && filepath.Clean(s.Path) == parent
				}) {
					t.Errorf("Open made %s, but nothing fsync'd %s, which names it, before Sync returned: a power loss may take the dataset (steps: %v)", filepath.Join(root, d), parent, steps)
				}
			}
		})
	}
}

// TestDurability_NewDirectoryNamedEIO checks that an Open whose fsync of a
// parent of the directories it made fails returns the error and removes
// the directories again: a later Open must make them, and sync them,
// anew, since one that finds them would not know they were never synced.
func TestDurability_NewDirectoryNamedEIO(t *testing.T) {
	root := t.TempDir()
	f := vfstest.NewFaulty(nil)
	rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSyncDir, "a"), Err: syscall.EIO, Times: 1})
	opts := chunkmap.Options{ChunkSize: chunkmap.MinChunkSize}
	chunkmap.SetFS(&opts, f)
	dir := filepath.Join(root, "a", "b", "ds")
	if m, err := chunkmap.Open(dir, &opts); !errors.Is(err, syscall.EIO) || !errors.Is(err, chunkmap.ErrIO) {
		if err == nil {
			m.Close()
		}
		t.Fatalf("Open with the fsync of a parent failing: %v, want EIO and ErrIO", err)
	}
	if f.Fired(rule) != 1 {
		t.Fatalf("the EIO rule fired %d times, want 1", f.Fired(rule))
	}
	if _, err := os.Lstat(filepath.Join(root, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the failed Open, %s: %v, want it removed again", filepath.Join(root, "a"), err)
	}
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatalf("Open once the fault is gone: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
