//go:build linux

package chunkmap

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileBudget checks that the caches of open chunk files, a Manager's
// and all the process's, shrink with a low descriptor limit instead of
// exhausting it.
func TestFileBudget(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	for _, tc := range []struct{ soft, own, process int64 }{
		{256, 64, 64},
		{40, 10, 10},
		{12, 4, 4},
		{1 << 20, 0, 1 << 18}, // own: the Managers' shares, cacheShare
	} {
		if uint64(tc.soft) > old.Max {
			continue
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(tc.soft), Max: old.Max}); err != nil {
			t.Fatal(err)
		}
		// Managers earlier tests left open hold descriptors of
		// their own, which past their quarter come out of the caches'.
		if over := managerFiles.Load() - tc.process; over > 0 {
			tc.process = max(0, tc.process-over)
			tc.own = min(tc.own, tc.process)
		}
		if tc.own == 0 {
			tc.own = cacheShare(tc.process, arenasHeld.Load())
		}
		if own, process := fileBudgets(); own != tc.own || process != tc.process {
			t.Errorf("with a descriptor limit of %d: fileBudgets() = %d, %d; want %d, %d", tc.soft, own, process, tc.own, tc.process)
		}
	}
}

// TestFileCacheHoldsUnmappedChunks reads every chunk of a dataset of 1,300
// chunks through a Manager that maps 16 of them: the descriptor cache keeps
// a file open for every chunk it does not map, past the 1,024 files a
// Manager's cache held at most before its share of the process's budget
// grew with the budget, so that a second pass reopens none of them.
func TestFileCacheHoldsUnmappedChunks(t *testing.T) {
	const chunks, mapped = 1300, 16
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	// The other Managers open in the process (each at least one, as this
	// one is) take their parts of the budget.
	if _, process := fileBudgets(); process/(arenasHeld.Load()+1) < chunks {
		t.Skipf("the caches' budget is %d files with a descriptor limit of %d and %d other Managers: too few for %d chunks", process, lim.Cur, arenasHeld.Load(), chunks)
	}
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: MinChunkSize, MaxMapped: mapped})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Grow(chunks * MinChunkSize); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte{1}, chunks*MinChunkSize-1); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 8)
	for pass := range 2 {
		for c := int64(0); c < chunks; c++ {
			if _, err := m.ReadAt(p, c*MinChunkSize+c); err != nil {
				t.Fatal(err)
			}
		}
		if pass == 0 {
			continue
		}
		m.mu.Lock()
		cached := len(m.mu.fds)
		m.mu.Unlock()
		if cached < chunks-mapped {
			t.Errorf("after two passes over %d chunks with %d mapped, the cache holds %d files, want %d or more", chunks, m.Stats().Mapped, cached, chunks-mapped)
		}
		if n := fdsUnder(t, dir); n < chunks {
			t.Errorf("%d descriptors open under the dataset, want one for each of its %d chunks", n, chunks)
		}
	}
}

// TestFileCacheSharedWithNewManager has a Manager cache files while it is
// alone, then go idle as a second Manager opens: the first gives back the
// files past its share as the second opens, and the second, reading as
// many chunks as its share holds, keeps a file for each of them.
func TestFileCacheSharedWithNewManager(t *testing.T) {
	const budget, mapped = 2400, 16
	testFileBudget.Store(budget)
	defer testFileBudget.Store(0)
	// Managers other tests left open (or closed ones the collector has
	// not taken yet) take their parts of the budget too; those dropped
	// without Close leave the count once collected, so collect them now
	// rather than during the test.
	runtime.GC()
	runtime.GC()
	base := arenasHeld.Load()
	alone, two := cacheShare(budget, base+1), cacheShare(budget, base+2)
	if alone <= two {
		t.Skipf("with %d other Managers open, one more does not change the shares (%d)", base, alone)
	}
	chunksA, chunksB := alone+mapped, two+mapped
	open := func(n int64) *Manager {
		m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, MaxMapped: mapped})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if err := m.Grow(n * MinChunkSize); err != nil {
			t.Fatal(err)
		}
		if _, err := m.WriteAt([]byte{1}, n*MinChunkSize-1); err != nil {
			t.Fatal(err)
		}
		return m
	}
	readAll := func(m *Manager, n int64) {
		p := make([]byte, 8)
		for range 2 {
			for c := int64(0); c < n; c++ {
				if _, err := m.ReadAt(p, c*MinChunkSize); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	cached := func(m *Manager) int64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return int64(len(m.mu.fds))
	}
	a := open(chunksA)
	readAll(a, chunksA)
	if n := cached(a); n < alone {
		t.Fatalf("alone, the Manager caches %d files of its %d unmapped chunks, within its share of %d", n, chunksA-mapped, alone)
	}
	b := open(chunksB)
	if share := cacheShare(budget, arenasHeld.Load()); cached(a) > share {
		t.Errorf("once a second Manager opened, the first (idle) still caches %d files, past its share of %d", cached(a), share)
	}
	readAll(b, chunksB)
	if n := cached(b); n < chunksB-mapped {
		t.Errorf("the second Manager caches %d files of its %d unmapped chunks, within its share of %d", n, chunksB-mapped, two)
	}
}
