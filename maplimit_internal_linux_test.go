package chunkmap

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/arena"
)

// mappingsHeld is how many chunk mappings m holds: live in their slots,
// doomed, and in private views.
func mappingsHeld(m *Manager) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(len(m.mu.live) + len(m.mu.doomed))
	for _, vh := range m.mu.views {
		n += vh.n
	}
	return n
}

// TestMapLimit_CountBalanced checks that the process's count of chunk
// mappings, which the mapping budget is held to, follows what the Manager
// holds on every path that maps or unmaps: evictions, private views (a pin
// across the arena's end), a chunk deleted while pinned, lost slots,
// refused mappings, and Close with pins still held; and that it is back
// where it was once everything is released.
func TestMapLimit_CountBalanced(t *testing.T) {
	const cs = MinChunkSize
	start := mappedInProcess.Load()
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 4 * cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(make([]byte, 10*cs)); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if got, want := mappedInProcess.Load()-start, mappingsHeld(m); got != want {
			t.Fatalf("%s: the process counts %d chunk mappings, the Manager holds %d", when, got, want)
		}
	}
	buf := make([]byte, 8)
	for c := int64(0); c < 10; c++ {
		if _, err := m.ReadAt(buf, c*cs); err != nil {
			t.Fatal(err)
		}
	}
	check("after reads that evict")
	across, err := m.Pin(4*cs-8, 16) // chunks 3 and 4: slots 3 and 0, a private view
	if err != nil {
		t.Fatal(err)
	}
	check("with a pin in a private view")
	doomed, err := m.Pin(9*cs, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(5 * cs); err != nil { // deletes chunk 9, pinned
		t.Fatal(err)
	}
	check("with a deleted chunk pinned")
	doomed.Release()
	check("after its release")

	t.Cleanup(func() { arena.SetLimitHooks(nil, nil, nil) })
	arena.SetLimitHooks(nil, func(int) bool { return true }, func(unsafe.Pointer, uintptr) {})
	for c := int64(0); c < 5; c++ {
		m.ReadAt(buf, c*cs) // evictions over the limit: slots emptied by munmap
	}
	arena.SetLimitHooks(func(int) bool { return true }, nil, nil)
	for c := int64(0); c < 5; c++ {
		m.ReadAt(buf, c*cs) // mappings refused
	}
	m.Pin(2*cs, 8)
	arena.SetLimitHooks(nil, nil, nil)
	check("after evictions over the limit and refused mappings")
	held, err := m.Pin(cs, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Logf("Close with pins held: %v", err)
	}
	across.Release()
	held.Release()
	if got := mappedInProcess.Load() - start; got != 0 {
		t.Fatalf("after Close and every release: the process counts %d chunk mappings more than before", got)
	}
}

// TestAddrLimit_ArenaCountBalanced checks that the process's count of
// arena address space, which its share under RLIMIT_AS is held to, goes
// back where it was once a Manager's arena is released at Close.
func TestAddrLimit_ArenaCountBalanced(t *testing.T) {
	was := scarceAddressSpace
	scarceAddressSpace = true // Close releases the arena at once
	defer func() { scarceAddressSpace = was }()
	// Managers that earlier tests closed give their arenas back when the
	// garbage collector finds them unreachable, from a goroutine of the
	// runtime: let those cleanups run before counting, or one that runs
	// meanwhile would change the count under the test.
	settleArenaCleanups()
	start := arenasInProcess.Load()
	m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := arenasInProcess.Load()-start, int64(len(m.slots))*MinChunkSize; got != want {
		t.Errorf("open: the process counts %d bytes of arenas more, the Manager reserved %d", got, want)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := arenasInProcess.Load() - start; got != 0 {
		t.Errorf("after Close: the process counts %d bytes of arenas more than before", got)
	}
}

// settleArenaCleanups runs the garbage collector until the arenas of
// unreachable closed Managers have been given back: until the count of
// arena bytes stays the same across a collection and the cleanups after
// it (a few rounds at most).
func settleArenaCleanups() {
	for range 20 {
		before := arenasInProcess.Load()
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on a goroutine of their own
		if arenasInProcess.Load() == before {
			return
		}
	}
}
