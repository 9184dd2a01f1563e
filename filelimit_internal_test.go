package chunkmap

import (
	"bytes"
	"math"
	"runtime"
	"testing"
	"time"
)

// TestFileLimit_CacheBudget checks the share of descriptors that the
// Managers' caches of open files keep between them: with a budget of 6,
// three Managers serving reads of 12 chunks each by pread (one chunk
// mapped each, admission on) keep at most 6 files cached together, read
// right throughout, and give every file back at Close.
func TestFileLimit_CacheBudget(t *testing.T) {
	const cs, n, budget = MinChunkSize, 12, 6
	was := testFileBudget.Swap(budget)
	defer testFileBudget.Store(was)
	start := filesInProcess.Load()
	var ms [3]*Manager
	for i := range ms {
		m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, err := m.Append(bytes.Repeat([]byte{byte('a' + i)}, n*cs)); err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	buf := make([]byte, 8)
	for round := range 3 {
		for c := int64(0); c < n; c++ {
			for i, m := range ms {
				if _, err := m.ReadAt(buf, c*cs+int64(round)); err != nil || !bytes.Equal(buf, bytes.Repeat([]byte{byte('a' + i)}, 8)) {
					t.Fatalf("Manager %d ReadAt(%d) = %q, %v", i, c*cs, buf, err)
				}
				if got := filesInProcess.Load() - start; got > budget {
					t.Fatalf("round %d, chunk %d: %d files cached, budget %d", round, c, got, budget)
				}
			}
		}
	}
	for _, m := range ms {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := filesInProcess.Load() - start; got != 0 {
		t.Errorf("after Close: %d files still counted as cached", got)
	}
}

// TestFileLimit_PastBudgetWriteMarksDirty checks a pwrite through a file
// opened past the process's budget of cached files (another Manager holds
// the budget): the chunk must be marked for the next Sync like any other,
// or a Sync that returned nil would not have made the write durable.
func TestFileLimit_PastBudgetWriteMarksDirty(t *testing.T) {
	const cs = MinChunkSize
	was := testFileBudget.Swap(filesInProcess.Load() + 1)
	defer testFileBudget.Store(was)
	other, err := Open(t.TempDir(), &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Append(make([]byte, cs)); err != nil { // its new file takes the budget
		t.Fatal(err)
	}
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(make([]byte, cs)); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	n := len(m.mu.fds)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d files cached past the budget", n)
	}
	if _, err := m.WriteAt(bytes.Repeat([]byte{'x'}, bulkWrite), 0); err != nil { // a pwrite
		t.Fatal(err)
	}
	m.mu.Lock()
	_, dirty := m.mu.dirty[0]
	n = len(m.mu.fds)
	m.mu.Unlock()
	if !dirty {
		t.Error("a pwrite through a file opened past the budget left its chunk unmarked for Sync")
	}
	if n != 0 {
		t.Errorf("%d files still cached after the pwrite, past the budget", n)
	}
}

// TestFileLimit_CacheFollowsLoweredLimit checks that a descriptor cache
// filled under one limit shrinks to a lower one set while the Manager is
// open: it looks again every fdRecheck uses of its files.
func TestFileLimit_CacheFollowsLoweredLimit(t *testing.T) {
	const cs, n = MinChunkSize, 40
	was := testFileBudget.Load()
	defer testFileBudget.Store(was)
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(make([]byte, n*cs)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for c := int64(0); c < n; c++ { // served by pread: every file cached
		if _, err := m.ReadAt(buf, c*cs); err != nil {
			t.Fatal(err)
		}
	}
	cached := func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.mu.fds)
	}
	if got := cached(); got < n-1 {
		t.Fatalf("%d files cached, want about %d", got, n)
	}
	testFileBudget.Store(filesInProcess.Load() - n + 4) // the limit lowered: room for 4 of them
	for i := range 2 * fdRecheck {
		if _, err := m.ReadAt(buf, int64(i%n)*cs); err != nil {
			t.Fatal(err)
		}
	}
	if got := cached(); got > 4 {
		t.Errorf("%d files cached %d uses after the limit was lowered to leave room for 4", got, 2*fdRecheck)
	}
}

// TestFileLimit_DroppedManagerGivesBackItsShare checks that a Manager
// dropped without Close, whose cached files the runtime closes once it is
// unreachable, leaves the process's count of cached files with them: its
// share of the budget must not stay taken for the life of the process.
func TestFileLimit_DroppedManagerGivesBackItsShare(t *testing.T) {
	const cs, n = MinChunkSize, 12
	start := filesInProcess.Load()
	func() {
		m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Append(make([]byte, n*cs)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		for c := int64(0); c < n; c++ {
			if _, err := m.ReadAt(buf, c*cs); err != nil {
				t.Fatal(err)
			}
		}
		if got := filesInProcess.Load() - start; got < n/2 {
			t.Fatalf("%d files cached, want most of %d", got, n)
		}
	}() // m is dropped unclosed
	for i := 0; i < 50 && filesInProcess.Load() != start; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := filesInProcess.Load() - start; got != 0 {
		t.Errorf("a Manager dropped unclosed still counts %d cached files after collection", got)
	}
}

// TestCacheShare checks a Manager's share of the process's budget of
// cached files: all of it for a Manager alone, an equal part among
// several, never less than minCacheShare unless the budget itself is less,
// and never more than the budget or maxCacheShare; where the system sets no
// limit, minCacheShare.
func TestCacheShare(t *testing.T) {
	for _, tc := range []struct{ process, managers, want int64 }{
		{5000, 1, 5000},
		{5000, 0, 5000}, // a Manager counts itself as it opens
		{5000, 2, 2500},
		{5000, 4, minCacheShare + 226},
		{5000, 10, minCacheShare},
		{1 << 18, 16, 1 << 14},
		{1 << 18, 1, maxCacheShare},
		{math.MaxInt64, 1, minCacheShare}, // no descriptor limit (Windows)
		{600, 1, 600},
		{600, 3, 600},
		{0, 1, 0},
	} {
		if got := cacheShare(tc.process, tc.managers); got != tc.want {
			t.Errorf("cacheShare(%d, %d) = %d, want %d", tc.process, tc.managers, got, tc.want)
		}
	}
}
