package chunkmap_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBatch_PanicNilGoesOnWithLegacyPanicNil panics with nil out of Batch
// functions, one batch deep and nested, in a program run with
// GODEBUG=panicnil=1 (a go.mod godebug line can set it): recover then
// returns nil for a panic(nil), as for a runtime.Goexit, but, unlike for a
// Goexit, the panic stops there. Batch's fault guard, which recovers to
// tell a fault from other panics, stopped it and returned nil, so the
// program went on as if the function had returned nil, its work half done;
// the panic must go on, as any other panic of fn does. A Goexit must still
// end its goroutine, and nothing may stay held.
func TestBatch_PanicNilGoesOnWithLegacyPanicNil(t *testing.T) {
	t.Setenv("GODEBUG", "panicnil=1")
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	if _, err := m.Append(pattern(1, 4*cs)); err != nil {
		t.Fatal(err)
	}
	hold := func(b *chunkmap.Batch, idx int64) {
		if _, err := b.Bytes(idx*cs, 8); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		fn   func(b *chunkmap.Batch) error
	}{
		{"one deep", func(b *chunkmap.Batch) error {
			hold(b, 0)
			panic(nil)
		}},
		{"nested", func(b *chunkmap.Batch) error {
			hold(b, 0)
			return m.Batch(func(b2 *chunkmap.Batch) error {
				hold(b2, 3)
				panic(nil)
			})
		}},
	} {
		returned := false
		func() {
			defer func() { recover() }()
			m.Batch(tc.fn)
			returned = true
		}()
		if returned {
			t.Errorf("%s: Batch returned after its function panicked with nil: the panic was stopped", tc.name)
		}
		if st := m.Stats(); st.Pinned != 0 {
			t.Errorf("%s: after the panic, Stats.Pinned = %d, want 0", tc.name, st.Pinned)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	ended := true
	go func() {
		defer wg.Done()
		m.Batch(func(b *chunkmap.Batch) error {
			hold(b, 1)
			runtime.Goexit()
			return nil
		})
		ended = false
	}()
	wg.Wait()
	if !ended {
		t.Error("Batch returned after its function called runtime.Goexit")
	}
	if err := m.Batch(func(b *chunkmap.Batch) error { hold(b, 2); return nil }); err != nil {
		t.Errorf("a Batch after them: %v", err)
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("Stats.Pinned = %d, want 0", st.Pinned)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v, want nil (no batch is open)", err)
	}
}
