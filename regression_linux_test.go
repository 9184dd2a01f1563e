// Regression tests for bugs a review of the durability redesign found:
// each failed before its fix.

package chunkmap

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// hookFS calls hooks around operations of vfs.OS.
type hookFS struct {
	vfs.FS
	beforeRemove func(path string)
	afterReadDir func(dir string)
}

func (h *hookFS) Remove(name string) error {
	if h.beforeRemove != nil {
		h.beforeRemove(name)
	}
	return h.FS.Remove(name)
}

func (h *hookFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	e, err := h.FS.ReadDir(dir)
	if h.afterReadDir != nil {
		h.afterReadDir(dir)
	}
	return e, err
}

const cs = MinChunkSize

// R1: the epoch moves before the unlink; a reader that reconciles in
// between keeps the mapping of the deleted chunk and later serves its bytes
// after the writer recreated the chunk.
func TestRegression_FollowerStaleChunk(t *testing.T) {
	dir := t.TempDir()
	h := &hookFS{FS: vfs.OS}
	o := &Options{ChunkSize: cs}
	SetFS(o, h)
	w, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Append(bytes.Repeat([]byte{'A'}, 2*cs))
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 16)
	if _, err := r.ReadAt(buf, cs); err != nil || buf[0] != 'A' {
		t.Fatal(err, buf)
	}
	h.beforeRemove = func(p string) {
		if strings.HasSuffix(p, ".chunk") {
			var b [1]byte
			r.ReadAt(b[:], 0) // the reader follows between epoch bump and unlink
		}
	}
	if err := w.Truncate(cs); err != nil {
		t.Fatal(err)
	}
	h.beforeRemove = nil
	if _, err := w.Append(bytes.Repeat([]byte{'B'}, cs)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(buf, cs); err != nil {
		t.Fatal(err)
	}
	if buf[0] != 'B' {
		t.Errorf("reader returned %q of the deleted chunk file; the writer's chunk holds 'B'", buf[:4])
	}
}

// R2: a ReadOnly Open loads the state page after listing the directory.
func TestRegression_ReaderOpenSpuriousCorrupt(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Append(make([]byte, 10))
	h := &hookFS{FS: vfs.OS}
	h.afterReadDir = func(string) { w.Append(make([]byte, cs)) } // a fast appender
	o := &Options{ReadOnly: true}
	SetFS(o, h)
	r, err := Open(dir, o)
	if err == nil {
		r.Close()
		t.Skip("no error")
	}
	t.Errorf("ReadOnly Open beside a live appender: %v (corrupt=%v)", err, errors.Is(err, ErrCorrupt))
}

// R3: a read through a Batch caches a writable run beyond what was allocated.
func TestRegression_BatchRunPastAlloc(t *testing.T) {
	base := t.TempDir()
	if err := syscall.Mount("tmpfs", base, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(base, syscall.MNT_DETACH) })
	dir := filepath.Join(base, "ds")
	const c = 1 << 20
	m, err := Open(dir, &Options{ChunkSize: c})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Append(make([]byte, 100))
	filler := filepath.Join(base, "filler")
	defer os.Remove(filler)
	err = m.Batch(func(b *Batch) error {
		if _, err := b.WritableBytes(0, 8); err != nil { // allocates chunk 0 up to Size (64 KiB step)
			return err
		}
		if err := m.Truncate(2 * c); err != nil { // Size grows; nothing allocated
			return err
		}
		// fill the file system
		f, _ := os.Create(filler)
		blk := make([]byte, 64<<10)
		for {
			if _, err := f.Write(blk); err != nil {
				break
			}
		}
		f.Close()
		if _, err := b.Bytes(c/2, 8); err != nil { // read: caches run [0, c) as writable
			return err
		}
		p, err := b.WritableBytes(c/2, 8) // fast path: no allocation, no ErrNoSpace
		if err != nil {
			t.Logf("WritableBytes refused as it should: %v", err)
			return nil
		}
		t.Logf("WritableBytes returned bytes past the allocation (alloc=%d, off=%d)", m.slot(0).alloc.Load(), c/2)
		p[0] = 1
		return nil
	})
	t.Logf("Batch returned: %v (ErrFault=%v, ErrNoSpace=%v)", err, errors.Is(err, ErrFault), errors.Is(err, ErrNoSpace))
	if errors.Is(err, ErrFault) {
		t.Errorf("a store through WritableBytes faulted for lack of space")
	}
}

// R4: a Sync while a writable view holds a truncated chunk keeps the chunk
// in mu.dirty for ever.
func TestRegression_ViewTruncateSyncForever(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: cs, ArenaSize: 2 * cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Append(make([]byte, 3*cs))
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	p, err := m.PinWritable(cs+cs/2, cs) // chunks 1 and 2: slots 1 and 0 wrap: a view
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(cs / 2); err != nil {
		t.Fatal(err)
	}
	t.Logf("Sync with the pin: %v", m.Sync())
	p.Release()
	for i := range 2 {
		if err := m.Sync(); err != nil {
			t.Errorf("Sync %d after Release: %v", i, err)
		}
	}
}

// R5: growLocked's rollback left the removed chunks in mu.dirty and their
// descriptors in the file cache.
func TestRegression_GrowRollbackSyncForever(t *testing.T) {
	dir := t.TempDir()
	f := vfstest.NewFaulty(nil)
	o := &Options{ChunkSize: cs}
	SetFS(o, f)
	m, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Every try fails: a bulk write retries a creation that failed on the
	// goroutine making its chunk files (ahead.go).
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, "0000000000000002.chunk"), Err: syscall.EMFILE})
	if _, err := m.Append(make([]byte, 3*cs)); err == nil {
		t.Fatal("Append succeeded although creating chunk 2 failed")
	}
	// The chunks created before the failure are removed again: none may
	// stay open, or queued for a Sync that would then fail for ever.
	if n := deletedFds(t, dir); n != 0 {
		t.Errorf("%d descriptors of removed chunk files are still open", n)
	}
	for i := range 2 {
		if err := m.Sync(); err != nil {
			t.Errorf("Sync %d after the failed Append: %v", i, err)
		}
	}
}

// R6: after a process crash inside DropBefore (record written, page not yet),
// a Truncate builds its record from mu.durable's first and writes one that
// fails check(); after a power loss Open falls back to the older record,
// whose chunks Truncate deleted.
func TestRegression_TruncateAfterRecoveryBadRecord(t *testing.T) {
	dir := t.TempDir()
	o1 := &Options{ChunkSize: cs}
	SetFS(o1, vfstest.WithBootID(vfs.OS, "boot-1"))
	w, err := Open(dir, o1)
	if err != nil {
		t.Fatal(err)
	}
	w.Append(make([]byte, 4*cs))
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	// DropBefore(2*cs) up to its record, then SIGKILL.
	w.mu.Lock()
	rec := w.mu.durable
	rec.first = 2
	if err := w.recordLocked(rec); err != nil {
		t.Fatal(err)
	}
	w.mu.Unlock()
	w.mu.lock.unlock() // the process dies: its flock goes
	w2, err := Open(dir, o1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered: start %d size %d durable %+v", w2.Start(), w2.Size(), w2.mu.durable)
	if err := w2.Truncate(cs); err != nil {
		t.Fatal(err)
	}
	t.Logf("durable after Truncate: %+v", w2.mu.durable)
	w2.mu.lock.unlock() // power loss before the next Sync
	o3 := &Options{ChunkSize: cs}
	SetFS(o3, vfstest.WithBootID(vfs.OS, "boot-2"))
	w3, err := Open(dir, o3)
	if err != nil {
		t.Errorf("Open after the power loss: %v", err)
		return
	}
	w3.Close()
}

type countFS struct {
	vfs.FS
	syncDirs atomic.Int32
}

func (c *countFS) SyncDir(d string) error { c.syncDirs.Add(1); return c.FS.SyncDir(d) }

// R7: a recovering Open (process crash, same boot) resets dirDirty, so the
// first Sync records chunks whose names were never made durable.
func TestRegression_RecoveryForgetsDirSync(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	w.Append(make([]byte, 10))
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Append(make([]byte, 3*cs)) // creates chunks 1..3; no Sync
	w.mu.lock.unlock()           // SIGKILL
	c := &countFS{FS: vfs.OS}
	o := &Options{ChunkSize: cs}
	SetFS(o, c)
	w2, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	t.Logf("recovered size %d, dirDirty %v, dirty %d", w2.Size(), w2.mu.dirDirty, len(w2.mu.dirty))
	before := c.syncDirs.Load()
	if err := w2.Sync(); err != nil {
		t.Fatal(err)
	}
	if c.syncDirs.Load() == before {
		t.Errorf("Sync recorded size %d (chunks 1..3 created by the crashed process) without fsyncing the directory", w2.mu.durable.size)
	}
}

// R8: concurrent lock-free pulls store Size unordered: a goroutine can see
// a reader's Size go backwards.
func TestRegression_FollowerSizeRegresses(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Append(make([]byte, 8))
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stop atomic.Bool
	var back atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			for !stop.Load() {
				s := r.Size()
				if s < last {
					back.Add(1)
				}
				last = s
			}
		}()
	}
	buf := make([]byte, 8)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		w.Append(buf)
	}
	stop.Store(true)
	wg.Wait()
	if n := back.Load(); n > 0 {
		t.Errorf("a reader's Size went backwards %d times while the writer only appended", n)
	}
}

func TestRegression_ViewDropBeforeSyncForever(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: cs, ArenaSize: 2 * cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Append(make([]byte, 4*cs))
	p, err := m.PinWritable(cs+cs/2, cs) // chunks 1,2 wrap the 2-slot arena: a view
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(3 * cs); err != nil {
		t.Fatal(err)
	}
	t.Logf("Sync with the pin: %v", m.Sync() != nil)
	p.Release()
	m.Append(make([]byte, 4*cs)) // the dataset grows on; 1 and 2 never come back
	for i := range 2 {
		if err := m.Sync(); err != nil {
			t.Errorf("Sync %d: %v", i, err)
		}
	}
}

func deletedFds(t *testing.T, dir string) int {
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if strings.HasPrefix(l, dir) && strings.HasSuffix(l, "(deleted)") {
			n++
		}
	}
	return n
}
