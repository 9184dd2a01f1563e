//go:build linux

package chunkmap

import (
	"bytes"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap/internal/procself"
)

// openFds counts the process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	fds, err := procself.FDs()
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestAhead_RefusalClosesKeptFiles: the files a growth's maker keeps open
// ahead of a bulk write are given back when a call of the Manager is
// refused a descriptor (withFilesLocked), where before they stayed open
// until the write took them, and a call that needed one more failed with
// EMFILE beside 16 files of its own Manager's that nothing used. The write
// that follows still finds every chunk's file, by name.
func TestAhead_RefusalClosesKeptFiles(t *testing.T) {
	const chunks = 40
	m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt([]byte{1}, 0); err != nil { // one chunk: no maker, and growth probes the file system
		t.Fatal(err)
	}
	m.mu.Lock()
	if m.fillChunks {
		m.mu.Unlock()
		t.Skip("this file system cannot allocate a range: growth writes every chunk whole, with no maker")
	}
	if _, err := m.growLocked(chunks*MinChunkSize, growAhead); err != nil {
		m.mu.Unlock()
		t.Fatal(err)
	}
	a := &m.ahead
	a.mu.Lock()
	for a.running {
		a.changed.Wait()
	}
	kept := a.open
	a.mu.Unlock()
	if kept != aheadOpen {
		m.mu.Unlock()
		t.Fatalf("the maker keeps %d files open after making %d chunks; want %d", kept, chunks-2, aheadOpen)
	}
	before := openFds(t)
	tries := 0
	err = m.withFilesLocked(false, func() error {
		if tries++; tries == 1 {
			return &os.PathError{Op: "open", Path: "x", Err: syscall.EMFILE}
		}
		return nil
	})
	a.mu.Lock()
	open, keep := a.open, a.keep
	var left int
	for _, f := range a.files {
		if f != nil {
			left++
		}
	}
	a.mu.Unlock()
	m.mu.Unlock()
	if err != nil || tries != 2 {
		t.Fatalf("withFilesLocked after one refusal: %v, %d tries; want nil after 2", err, tries)
	}
	if open != 0 || left != 0 || keep != 0 {
		t.Errorf("after a refusal the maker keeps %d files open (%d in files), and may keep %d more; want none", open, left, keep)
	}
	if now := openFds(t); now > before-aheadOpen {
		t.Errorf("%d descriptors open before the refusal, %d after; want %d fewer", before, now, aheadOpen)
	}
	want := bytes.Repeat([]byte{0xa5}, chunks*MinChunkSize)
	if _, err := m.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadAt after the write: %v, or wrong bytes", err)
	}
}

// TestManagerFiles_Counted: each open Manager counts the descriptors it
// holds of its own against the process's share (managerFiles), as many as
// it opened, and lists itself among the Managers that give back idle files
// to one refused a descriptor; Close, and a refused Open, leave both as
// they were.
func TestManagerFiles_Counted(t *testing.T) {
	listed := func(m *Manager) bool {
		managers.Lock()
		defer managers.Unlock()
		for p := range managers.set {
			if p.Value() == m {
				return true
			}
		}
		return false
	}
	dir := t.TempDir()
	// Earlier tests' dropped Managers are collected first, so that no
	// cleanup closes their files while this test counts descriptors.
	for range 3 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	start, fds := managerFiles.Load(), openFds(t)
	w, err := Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	wFiles, wFds := managerFiles.Load()-start, openFds(t)-fds
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rFiles, rFds := managerFiles.Load()-start-wFiles, openFds(t)-fds-wFds
	if wFiles != 4 || rFiles != 3 {
		t.Errorf("a writer counts %d descriptors of its own and a reader %d; want 4 and 3", wFiles, rFiles)
	}
	// The first Open may also start the runtime's poller (two more).
	if int64(wFds) < wFiles || int64(wFds) > wFiles+2 || int64(rFds) != rFiles {
		t.Errorf("a writer opened %d descriptors and a reader %d; counted %d and %d", wFds, rFds, wFiles, rFiles)
	}
	if !listed(w) || !listed(r) {
		t.Errorf("open Managers listed: writer %v, reader %v", listed(w), listed(r))
	}
	if _, err := Open(dir, &Options{ChunkSize: MinChunkSize}); err == nil {
		t.Fatal("a second writer of one dataset was let in")
	}
	if got := managerFiles.Load() - start; got != wFiles+rFiles {
		t.Errorf("after a refused Open, %d descriptors counted; want %d", got, wFiles+rFiles)
	}
	for _, m := range []*Manager{r, w} {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if listed(m) {
			t.Error("a closed Manager is still listed")
		}
	}
	if got := managerFiles.Load(); got != start {
		t.Errorf("after Close, %d descriptors counted; want %d", got, start)
	}
	// A Manager dropped without Close: the runtime closes its files once
	// it is unreachable, and its count goes with them.
	func() {
		if _, err := Open(dir, &Options{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
	}()
	if got := managerFiles.Load() - start; got != 3 {
		t.Fatalf("a reader dropped without Close, not yet collected: %d descriptors counted; want 3", got)
	}
	waitCollected(t, &managerFiles, start, "a reader dropped without Close")
}

// waitCollected runs the collector until count is back at start, the
// Manager (what) dropped without Close collected and its cleanup run, and
// fails t if it is not after 200 collections.
func waitCollected(t *testing.T, count *atomic.Int64, start int64, what string) {
	t.Helper()
	for i := 0; count.Load() != start; i++ {
		if i == 200 {
			t.Fatalf("%s and collected: still %d descriptors counted", what, count.Load()-start)
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the cleanups run on a goroutine of the runtime
	}
}

// TestManagerFiles_ScratchChunks: a scratch Manager holds a descriptor of
// its own for each of its chunks (a nameless file lives only through it),
// and counts each in scratchFiles from its creation to its removal; a
// dropped scratch Manager leaves the count once collected.
func TestManagerFiles_ScratchChunks(t *testing.T) {
	for range 3 { // earlier tests' dropped Managers, as in TestManagerFiles_Counted
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	start, fds := scratchFiles.Load(), openFds(t)
	others := filesInProcess.Load() + mappedInProcess.Load()
	m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, chunks int64) {
		t.Helper()
		got, open := scratchFiles.Load()-start, openFds(t)-fds
		if got != chunks {
			t.Errorf("%s: %d descriptors counted, want %d (one a chunk)", when, got, chunks)
		}
		// Besides its own, the Manager holds the clones in its
		// descriptor cache and those of its mapped chunks, counted
		// apart; the first Open may also start the runtime's poller
		// (two more).
		apart := filesInProcess.Load() + mappedInProcess.Load() - others
		if int64(open) < got+apart || int64(open) > got+apart+2 {
			t.Errorf("%s: %d descriptors open, %d counted as scratch chunks' and %d as cached or mapped", when, open, got, apart)
		}
	}
	check("opened", 0)
	if err := m.Grow(5 * MinChunkSize); err != nil {
		t.Fatal(err)
	}
	check("grown to 5 chunks", 5)
	if err := m.Truncate(2 * MinChunkSize); err != nil {
		t.Fatal(err)
	}
	check("truncated to 2 chunks", 2)
	if err := m.DropBefore(MinChunkSize); err != nil {
		t.Fatal(err)
	}
	check("first chunk dropped", 1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed", 0)
	func() {
		m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, Scratch: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Grow(3 * MinChunkSize); err != nil {
			t.Fatal(err)
		}
	}()
	if got := scratchFiles.Load() - start; got != 3 {
		t.Fatalf("a scratch Manager of 3 chunks dropped without Close, not yet collected: %d descriptors counted; want 3", got)
	}
	waitCollected(t, &scratchFiles, start, "a scratch Manager dropped without Close")
}

// TestManagerFiles_ScratchRegrownWhileHeld: where a chunk's removal waits
// for its last hold (unmapBeforeRemove, as on Windows), a scratch chunk
// cut by a Truncate while pinned and then grown again replaces the file
// that waits: the old one is closed and uncounted at once, and the count
// stays the chunks held. It kept the old file open, counted, until Close.
func TestManagerFiles_ScratchRegrownWhileHeld(t *testing.T) {
	was := unmapBeforeRemove
	unmapBeforeRemove = true
	defer func() { unmapBeforeRemove = was }()
	m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(4 * MinChunkSize); err != nil {
		t.Fatal(err)
	}
	p, err := m.Pin(3*MinChunkSize, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(3 * MinChunkSize); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("again"), 3*MinChunkSize); err != nil {
		t.Fatal(err)
	}
	p.Release()
	m.mu.Lock()
	held := int64(len(m.mu.scratch))
	m.mu.Unlock()
	if got := m.scratchFiles.Load(); got != held || held != 4 {
		t.Errorf("%d scratch chunks held, %d counted; want 4 of each", held, got)
	}
	got := make([]byte, 5)
	if _, err := m.ReadAt(got, 3*MinChunkSize); err != nil || string(got) != "again" {
		t.Fatalf("ReadAt of the chunk grown again: %v, %q", err, got)
	}
}
