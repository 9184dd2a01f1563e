package chunkmap

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// Mappings reports the mappings m holds: chunks live in the arena, chunks
// deleted while held (doomed), and chunks in private views. After Close with
// every pin and batch released all three are zero.
func (m *Manager) Mappings() (live, doomed, views int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, vh := range m.mu.views {
		views += int(vh.n)
	}
	return len(m.mu.live), len(m.mu.doomed), views
}

// QueuedDirty reports how many mappings wait in the queue the next Sync
// scans.
func (m *Manager) QueuedDirty() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.dirtyq)
}

// DirtyChunks reports how many chunks the next Sync is to fsync: those whose
// mappings wait in its queue, and those listed by index (written with
// pwrite, or unmapped while dirty).
func (m *Manager) DirtyChunks() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := make(map[int64]bool, len(m.mu.dirtyq)+len(m.mu.dirty))
	for _, mp := range m.mu.dirtyq {
		if !mp.gone {
			set[mp.index] = true
		}
	}
	for idx := range m.mu.dirty {
		set[idx] = true
	}
	return len(set)
}

// ArenaReleased reports whether m has retired its arena (after Close, once
// nothing holds a slot): every slot inaccessible, the range given back when
// m is unreachable.
func (m *Manager) ArenaReleased() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ar == nil
}

// Slots returns the number of slots in m's arena.
func (m *Manager) Slots() int { return len(m.slots) }

// SetScatteredArena makes every Manager opened after it treat its arena as
// not contiguous (see scatteredArena), or not, and returns the setting it
// replaced, for a test to restore (the scattered child process of
// TestScatteredArena runs with it on throughout).
func SetScatteredArena(on bool) (was bool) {
	was, scatteredArena = scatteredArena, on
	return was
}

// SetKeepHoles makes every Manager opened after it leave bytes below Size
// that were never written as holes even on tmpfs (see keepHoles), or not,
// and returns the setting it replaced.
func SetKeepHoles(on bool) (was bool) {
	was, keepHoles = keepHoles, on
	return was
}

// SetBatchHeldHook makes fn run inside every Batch's Bytes and
// WritableBytes call that holds chunks, right after it holds them (see
// batchHeldHook); nil removes it.
func SetBatchHeldHook(fn func()) { batchHeldHook = fn }

// SetBatchAllocHook makes fn run inside every Batch's WritableBytes and
// HoldWritable call that takes the slow path, once the chunks are allocated
// and before a private view maps them (see batchAllocHook); nil removes it.
func SetBatchAllocHook(fn func()) { batchAllocHook = fn }

// SetReadSlowHook makes fn run as every read's locked path begins (see
// readSlowHook); nil removes it.
func SetReadSlowHook(fn func()) { readSlowHook = fn }

// SetReleaseAtClose makes Close give the arena's range back at once, as
// on 32-bit platforms, and returns a function that restores the default.
func SetReleaseAtClose(on bool) (restore func()) {
	was := scarceAddressSpace
	scarceAddressSpace = on
	return func() { scarceAddressSpace = was }
}

// DropFileCache closes m's cached open files that no call is using, as m
// does itself when refused a descriptor: a test that takes every
// descriptor then leaves m none to give back.
func DropFileCache(m *Manager) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropIdleFdsLocked(-1)
}

// DropCachedFile closes m's cached open file of chunk idx, as the cache's
// budget may leave a chunk without one.
func DropCachedFile(m *Manager, idx int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropFdLocked(idx)
}

// MapsHeld returns what the Managers of the process hold against the
// budget SetMapBudget sets: their chunk mappings, and one for each Manager
// holding an arena (those other tests dropped unclosed included).
func MapsHeld() int64 { return mappedInProcess.Load() + arenasHeld.Load() }

// RetiredPages returns how many state pages of closed Managers wait for
// the garbage collector.
func RetiredPages() int64 { return retiredPages.Load() }

// SetMapBudget sets the most chunk mappings the Managers of the process keep
// between them, and returns a function that restores the system's.
func SetMapBudget(n int64) (restore func()) {
	was := testMapBudget.Swap(n)
	return func() { testMapBudget.Store(was) }
}

// SetSystemMapBudget sets the share of mappings the system allows the
// Managers of the process, a quarter of its limit, as if read from
// vm.max_map_count, and returns a function that restores it.
func SetSystemMapBudget(n int64) (restore func()) {
	was := systemBudget.Swap(n)
	return func() { systemBudget.Store(was) }
}

// FreeSpace returns the bytes free on the file system of m's directory, as
// growth checks them (freeSpace), for tests that need more than a small
// file system has.
func FreeSpace(m *Manager) (int64, error) { return m.freeSpace() }

// FillsChunks reports whether m writes every new chunk whole at its
// creation: its file system cannot allocate a range (ext2, no fallocate;
// every platform but Linux), so there growth makes no sparse files and
// is never pipelined with a bulk write.
func FillsChunks(m *Manager) bool { return m.fillChunks }

// AllocStep returns the bytes m allocates a chunk file ahead of the writes
// at a time: 2 MiB steps of a 32 MiB chunk where pages are 4 KiB, the whole
// chunk where they are 64 KiB (see maxFolio).
func AllocStep(m *Manager) int64 { return m.allocStep }

// SetUnmapBeforeRemove makes Managers defer the removal of a chunk file
// that a pin or batch maps until its last release, as on Windows (see
// unmapBeforeRemove), or not, and returns the setting it replaced.
func SetUnmapBeforeRemove(on bool) (was bool) {
	was, unmapBeforeRemove = unmapBeforeRemove, on
	return was
}

// StatsHolding returns m's Stats and runs fn under the same hold of m's
// lock. Every chunk of m is mapped and unmapped under that lock, so what
// the kernel lists of m's mappings while fn runs is what the Stats count:
// a listing of /proc/self/maps is no snapshot (the kernel reads it a page
// at a time, and since Linux 6.17 one mapping at a time), and one read
// while chunks come and go can list a chunk unmapped before it read the
// next one mapped.
func (m *Manager) StatsHolding(fn func()) Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.statsLocked()
	fn()
	return st
}

// ReplaceChunkFile replaces chunk idx's file in dir by a copy of it, as
// another program would: the same bytes under the name, in another file.
func ReplaceChunkFile(t testing.TB, dir string, idx int64) {
	t.Helper()
	path := filepath.Join(dir, chunk.Name(idx))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "copy")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// SparseAlloc bounds what a sparse chunk's allocated prefix takes, in
// multiples of the bytes pwrite wrote into the chunk.
const SparseAlloc = sparseAlloc

// CleanWrites is how many small writes to chunks with clean mappings a
// Manager sends to the files with pwrite between two Syncs.
const CleanWrites = cleanWrites

// CleanWritesDense and CleanProbe are the budget of small writes sent
// with pwrite after an interval between Syncs that spent its own, and how
// often in a row such intervals get CleanWrites again; an interval sends
// no more once it has sent CleanWritesDense and CleanPerFolio or more to
// each folio they reached (see cleanWrites).
const (
	CleanWritesDense = cleanWritesDense
	CleanProbe       = cleanProbe
	CleanPerFolio    = cleanPerFolio
)

// Abandon leaves m as a crash of its process would leave the dataset:
// nothing synced, closed or cleaned up, the page cache (with the stores
// through m's mappings) as it is, and only the directory lock released,
// as the kernel releases it, so that the next Open recovers as after a
// crash. m must not be used again.
func Abandon(m *Manager) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.mu.lock.unlock()
	m.mu.lock = nil
	return err
}

// RaiseFirst is how many misses a Manager lets pass after a first refusal
// before it raises its bound again.
const RaiseFirst = raiseFirst

// RaiseMost is the most misses m lets pass between two raises of its
// bound.
func RaiseMost(m *Manager) int64 { return m.raiseMost() }

// SetSpareCounts has the Managers of the process count the mappings and
// descriptors they may take before they raise a lowered bound (on), as
// they do, or probe with the backoff alone (off), as where the system does
// not tell.
func SetSpareCounts(on bool) (restore func()) {
	old := spareCounts
	if !on {
		none := func() (int64, bool) { return 0, false }
		spareCounts.maps, spareCounts.files = none, none
	}
	return func() { spareCounts = old }
}

// SkipIfHeldDelete, SkipCrossChunk and SkipNoSideBySide skip a test that meets one of
// Windows's documented limits (heldskip_windows_test.go).
var (
	SkipIfHeldDelete = skipIfHeldDelete
	SkipCrossChunk   = skipCrossChunk
	SkipNoSideBySide = skipNoSideBySide
)

// SpaceErrno is the system's own error for a full disk (errno_*_test.go).
const SpaceErrno = testSpaceErrno

// FilesErrno is the system's own error for a process out of descriptors
// (errno_*_test.go).
const FilesErrno = testFilesErrno

// StatePageAddr returns the address of the page m's manifest state page
// is mapped at, or 0 for a Manager with none (scratch).
func StatePageAddr(m *Manager) uintptr {
	if m.shared == nil || m.shared.p == nil {
		return 0
	}
	return uintptr(unsafe.Pointer(m.shared.p)) &^ (uintptr(os.Getpagesize()) - 1)
}

// ChunkFileName returns the name of chunk idx's file in its directory.
func ChunkFileName(idx int64) string { return chunk.Name(idx) }

// FileRun is how many chunk files a call makes, allocates or unlinks
// between two times it lets go of the Manager's lock (fileRun).
const FileRun = fileRun

// SetPauseHook makes fn run each time a call lets go of the Manager's lock
// between the chunk files it makes, allocates or unlinks (see pauseHook);
// nil removes it.
func SetPauseHook(fn func(idx int64)) { pauseHook = fn }
