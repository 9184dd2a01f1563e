package accessor_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestView_SurvivesEviction pins a range and then reads and writes every
// other chunk of a dataset many times MaxMapped: the pinned chunk stays
// mapped with its bytes intact, Stats shows it pinned, and stores through
// the View reach the dataset.
func TestView_SurvivesEviction(t *testing.T) {
	const chunks = 8
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	va := accessor.New(m, nil)
	data := fill(t, m, 0, chunks*cs)
	off, n := int64(2*cs+100), 1000
	w, err := va.Slice(off, n)
	if err != nil {
		t.Fatal(err)
	}
	if w.Off() != off || len(w.Bytes()) != n || cap(w.Bytes()) != n {
		t.Fatalf("Slice(%d, %d): Off %d, len %d, cap %d", off, n, w.Off(), len(w.Bytes()), cap(w.Bytes()))
	}
	if st := m.Stats(); st.Pinned != 1 {
		t.Errorf("Stats().Pinned = %d with one View, want 1", st.Pinned)
	}
	before := m.Stats().Evictions

	// Pressure from several goroutines while one reads the View.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			b := make([]byte, 4096)
			for i := range 200 {
				c := int64((g + i) % chunks)
				if c == 2 {
					continue
				}
				if _, err := m.ReadAt(b, c*cs+int64(i)); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.WriteAt(b[:8], c*cs+cs/2); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			if !bytes.Equal(w.Bytes(), data[off:off+int64(n)]) {
				t.Error("View bytes changed under eviction pressure")
				return
			}
		}
	})
	wg.Wait()

	st := m.Stats()
	if st.Evictions-before < 100 {
		t.Errorf("only %d evictions under pressure; the test did not press", st.Evictions-before)
	}
	if st.Pinned != 1 || st.Mapped > 2 {
		t.Errorf("Stats = %+v, want 1 pinned and at most MaxMapped+1 = 2 mapped", st)
	}
	if !bytes.Equal(w.Bytes(), data[off:off+int64(n)]) {
		t.Error("View bytes changed under eviction pressure")
	}
	// A store through the View is a store to the dataset.
	copy(w.Bytes(), "via the view")
	if got := readBack(t, m, off, 12); string(got) != "via the view" {
		t.Errorf("ReadAt after a store through the View = %q", got)
	}

	w.Release()
	w.Release() // harmless
	if w.Bytes() != nil {
		t.Error("Bytes after Release is not nil")
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("Stats().Pinned = %d after Release, want 0", st.Pinned)
	}
	// Now the chunk can be evicted like any other.
	for c := range int64(chunks) {
		readBack(t, m, c*cs, 1)
	}
	if st := m.Stats(); st.Mapped != 1 {
		t.Errorf("Stats().Mapped = %d after Release and more reads, want 1", st.Mapped)
	}
}

// TestView_Release checks that Release is idempotent, also when called from
// several goroutines at once, and that each View pins independently.
func TestView_Release(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	va := accessor.New(m, nil)
	fill(t, m, 0, 2*cs)
	a, err := va.Slice(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, err := va.Slice(5, 10) // same chunk, overlapping
	if err != nil {
		t.Fatal(err)
	}
	c, err := va.Slice(cs, 10)
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Pinned != 2 || st.Mapped != 2 {
		t.Errorf("Stats = %+v with Views in two chunks, want 2 pinned and mapped (MaxMapped 1 exceeded)", st)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(a.Release)
	}
	wg.Wait()
	if st := m.Stats(); st.Pinned != 2 {
		t.Errorf("Stats().Pinned = %d after releasing one of two Views of chunk 0, want 2", st.Pinned)
	}
	if !bytes.Equal(b.Bytes(), readBack(t, m, 5, 10)) {
		t.Error("the second View of chunk 0 lost its bytes")
	}
	b.Release()
	c.Release()
	c.Release()
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("Stats().Pinned = %d after all Releases, want 0", st.Pinned)
	}
}

// TestViewAccessor_SliceErrors checks Slice's refusals, and that a range
// across chunk boundaries is one contiguous view of the right bytes.
func TestViewAccessor_SliceErrors(t *testing.T) {
	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	fill(t, m, 0, 3*cs+100)
	for _, tc := range []struct{ off, n int64 }{{cs - 4, 8}, {3*cs - 4, 8}, {0, 3*cs + 100}, {cs - 1, cs + 2}} {
		w, err := va.Slice(tc.off, int(tc.n))
		if err != nil {
			t.Errorf("Slice(%d, %d): %v", tc.off, tc.n, err)
			continue
		}
		if !bytes.Equal(w.Bytes(), readBack(t, m, tc.off, int(tc.n))) {
			t.Errorf("Slice(%d, %d) holds other bytes than ReadAt reads", tc.off, tc.n)
		}
		w.Release()
	}
	for _, tc := range []struct{ off, n int64 }{{3*cs + 96, 8}, {-1, 2}, {0, -1}} {
		w, err := va.Slice(tc.off, int(tc.n))
		if !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Slice(%d, %d) = %v, %v, want ErrOutOfRange", tc.off, tc.n, w, err)
		}
		// The nil View of a failed Slice may be released, as a nil
		// Pinned may, so that a deferred Release need not wait for the
		// error check.
		w.Release()
		if w.Bytes() != nil || w.Off() != 0 {
			t.Errorf("Slice(%d, %d) failed, and its View has bytes or an offset", tc.off, tc.n)
		}
	}
	// A whole chunk, and an empty range, are fine.
	for _, tc := range []struct {
		off int64
		n   int
	}{{0, cs}, {cs, cs}, {17, 0}} {
		w, err := va.Slice(tc.off, tc.n)
		if err != nil {
			t.Errorf("Slice(%d, %d): %v", tc.off, tc.n, err)
			continue
		}
		if len(w.Bytes()) != tc.n {
			t.Errorf("Slice(%d, %d): %d bytes", tc.off, tc.n, len(w.Bytes()))
		}
		w.Release()
	}
	// Below Start.
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	if err := release(va.Slice(cs-8, 8)); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("Slice below Start = %v, want ErrOutOfRange", err)
	}
}

// TestView_ReadOnly checks that a View of a read-only Manager reads the
// dataset, and that stores through a read-write View are made durable by
// Sync like any write.
func TestView_ReadOnly(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	fill(t, m, 0, 2*cs)
	w, err := accessor.New(m, nil).Slice(cs+10, 5)
	if err != nil {
		t.Fatal(err)
	}
	copy(w.Bytes(), "hello")
	w.Release()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	ro := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true})
	w, err = accessor.New(ro, nil).Slice(cs+10, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Release()
	if got := string(w.Bytes()); got != "hello" {
		t.Errorf("read-only View after reopen = %q, want %q", got, "hello")
	}
	if st := ro.Stats(); st.Pinned != 1 {
		t.Errorf("Stats().Pinned = %d, want 1", st.Pinned)
	}
}

// TestView_OutlivesClose checks that a View keeps its bytes mapped after
// the Manager is closed, until Release.
func TestView_OutlivesClose(t *testing.T) {
	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	data := fill(t, m, 0, cs)
	w, err := va.Slice(100, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), data[100:200]) {
		t.Error("View bytes changed when the Manager closed")
	}
	w.Release()
	if err := release(va.Slice(100, 100)); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Slice after Close = %v, want ErrClosed", err)
	}
}
