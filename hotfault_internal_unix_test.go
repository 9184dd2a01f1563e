//go:build unix

package chunkmap

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestHotPaths_FaultRecovered checks each lock-free path for one access
// (hotRead1, hotReadSpan, hotWrite1, hotWriteSpan, hotAtomic's load and
// store) on a mapped chunk whose file another program truncated. Each
// first serves the same access on the whole file, so that the only change
// is the file: the access must then fault, be recovered by the path's
// guard (endHot, which calls recover only when the path did not finish;
// copyGuarded for hotWriteSpan), report that it did not serve it, leave the
// slots it announced a store in, and put back the goroutine's fault
// setting. A guard that lost its deferred call (as an open-coded defer's
// armed bit can be lost to dead store elimination when nothing reads
// memory between the defer and the return) lets the fault unwind the test
// as a panic, which fails it.
func TestHotPaths_FaultRecovered(t *testing.T) {
	m := dirtyMapped(t, 1, 2)
	cs := m.ChunkSize()
	s := &m.slots[1&m.smask]
	if s.own.Load() != 2 || !s.isDirty() || m.slots[2&m.smask].own.Load() != 3 {
		t.Fatalf("chunks 1 and 2 are not mapped in their slots, or chunk 1 is not dirty: own %d and %d, dirty %v",
			s.own.Load(), m.slots[2&m.smask].own.Load(), s.isDirty())
	}
	// A store whose guard did not recover leaves its announcement in the
	// slot; Close (in the cleanup) would wait for it forever. Deferred
	// calls run before the cleanup, also while a panic unwinds the test.
	defer func() {
		for s.storing() {
			s.leave()
		}
	}()
	gen := s.gen.Load()
	off := cs + 64
	p := make([]byte, 8)
	span := make([]byte, 128) // across chunks 1 and 2
	type access struct {
		name string
		do   func() bool // reports whether the path served the access
	}
	accesses := []access{
		{"hotRead1", func() bool { return m.hotRead1(p, off, nil) }},
		{"hotReadSpan", func() bool { return m.hotReadSpan(span, 2*cs-64, nil) }},
		{"hotWrite1", func() bool { return m.hotWrite1([]byte("BBBBBBBB"), off, true) != notStored }},
		{"hotWriteSpan", func() bool { return m.hotWriteSpan(span, 2*cs-64, true) }},
		{"hotAtomic load", func() bool {
			_, _, ok, _ := m.hotAtomic(atomicLoad, 8, off, 0, 0, nil)
			return ok
		}},
		{"hotAtomic add", func() bool {
			_, _, ok, _ := m.hotAtomic(atomicAdd, 8, off, 1, 0, nil)
			return ok
		}},
	}
	for _, a := range accesses {
		if !a.do() {
			t.Fatalf("%s did not serve an access to a whole chunk", a.name)
		}
	}
	if err := os.Truncate(m.chunkPath(1), 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []bool{false, true} {
		prev := debug.SetPanicOnFault(want)
		for _, a := range accesses {
			if a.do() {
				t.Errorf("%s served an access to a chunk whose file was truncated", a.name)
			}
			if got := debug.SetPanicOnFault(want); got != want {
				t.Errorf("%s left the goroutine's fault setting %v, want the caller's %v", a.name, got, want)
			}
			if s.storing() || m.slots[2&m.smask].storing() {
				t.Fatalf("%s left a store announced in a slot after its fault", a.name)
			}
		}
		debug.SetPanicOnFault(prev)
	}
	if s.own.Load() != 2 || s.gen.Load() != gen {
		t.Errorf("chunk 1's slot changed during the test (own %d, generation %d to %d): the paths may have declined before touching the file",
			s.own.Load(), gen, s.gen.Load())
	}
	if err := os.Truncate(m.chunkPath(1), cs); err != nil {
		t.Fatal(err) // whole again, for Close
	}
}
