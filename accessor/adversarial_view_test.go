package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestAdversarialViewLifecycle proves that a View across three chunks is
// one contiguous slice equal to the model, that stores through it reach the
// dataset and survive Close and reopen, that Release twice (and from many
// goroutines at once) is harmless, that Bytes is nil afterwards, and that
// Release after Truncate, after DropBefore and after Close neither panics
// nor leaves a chunk pinned.
func TestAdversarialViewLifecycle(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, &chunkmap.Options{MaxMapped: 1})
	va := accessor.New(m, nil)
	md := &advModel{}
	p := make([]byte, 5*advCS)
	for i := range p {
		p[i] = byte(i * 13)
	}
	m.WriteAt(p, 0)
	md.put(0, p)

	w, err := va.Slice(advCS-3, 2*advCS+6)
	if err != nil {
		t.Fatal(err)
	}
	if w.Off() != advCS-3 || len(w.Bytes()) != 2*advCS+6 || cap(w.Bytes()) != 2*advCS+6 {
		t.Fatalf("View: Off %d, len %d, cap %d", w.Off(), len(w.Bytes()), cap(w.Bytes()))
	}
	if !bytes.Equal(w.Bytes(), md.b[advCS-3:3*advCS+3]) {
		t.Fatal("View bytes differ from the model")
	}
	// Evict everything else by touching other chunks; the view stays.
	for i := int64(0); i < 5; i++ {
		if _, err := va.ReadUint8(i*advCS + 1); err != nil {
			t.Fatal(err)
		}
	}
	b := w.Bytes()
	for i := range b {
		b[i] ^= 0x5a
		md.b[advCS-3+int64(i)] ^= 0x5a
	}
	advCheck(t, m, md, "after stores through the view")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.Release() }()
	}
	wg.Wait()
	w.Release()
	if w.Bytes() != nil {
		t.Error("Bytes after Release is not nil")
	}
	advPinned(t, m, "after Release")

	// Release after Truncate below the view, after DropBefore above it,
	// and after Close.
	w1, err := va.Slice(3*advCS-2, advCS+4)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := va.Slice(0, advCS+1)
	if err != nil {
		t.Fatal(err)
	}
	w3, err := va.Slice(2*advCS, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(2*advCS + 50); err != nil {
		t.Fatal(err)
	}
	md.truncate(2*advCS + 50)
	// The held bytes stay readable (the chunk stays mapped).
	_ = w1.Bytes()[len(w1.Bytes())-1]
	w1.Release()
	w1.Release()
	if err := m.DropBefore(2 * advCS); err != nil {
		t.Fatal(err)
	}
	_ = w2.Bytes()[0]
	w2.Release()
	advCheck(t, m, md, "after Truncate and DropBefore with views")
	if st := m.Stats(); st.Pinned != 1 {
		t.Errorf("one view left: Pinned = %d", st.Pinned)
	}
	if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) && err != nil {
		t.Errorf("Close with a view: %v", err)
	}
	w3.Release()
	w3.Release()
	advPinned(t, m, "after Release after Close")
	_, err = va.Slice(2*advCS, 1)
	advIsErr(t, "Slice after Close", err, chunkmap.ErrClosed, "slice")
	m2 := advOpen(t, dir, nil)
	advCheck(t, m2, md, "after reopen")
}

// TestAdversarialSliceBadRanges proves that Slice refuses every range not
// wholly inside [Start, Size) with ErrOutOfRange and returns a nil View,
// pinning nothing.
func TestAdversarialSliceBadRanges(t *testing.T) {
	m := advOpen(t, t.TempDir(), nil)
	va := accessor.New(m, nil)
	m.WriteAt(make([]byte, 3*advCS+7), 0)
	if err := m.DropBefore(advCS); err != nil {
		t.Fatal(err)
	}
	size := m.Size()
	cases := []struct {
		off int64
		n   int
	}{
		{size - 3, 4}, {size, 1}, {advCS - 1, 2}, {0, 1}, {-1, 1}, {advCS, -1},
		{math.MaxInt64, 1}, {math.MaxInt64 - 1, 2}, {advCS, int(size)}, {advCS, math.MaxInt},
		{math.MinInt64, 1},
	}
	for _, c := range cases {
		var w *accessor.View
		var err error
		advTimeout(t, 10*time.Second, "Slice", func() { w, err = va.Slice(c.off, c.n) })
		advIsErr(t, fmt.Sprintf("Slice(%d, %d)", c.off, c.n), err, chunkmap.ErrOutOfRange)
		if w != nil {
			t.Errorf("Slice(%d, %d) failed but returned a View", c.off, c.n)
			w.Release()
		}
	}
	advPinned(t, m, "after bad Slices")
}

// TestAdversarialViewAndAtomicsAgree proves that the bytes of a View and
// the atomics see the same memory: counters added through AddUint64 are in
// the view in native order, and stores through the view are seen by
// LoadUint64, across a chunk boundary.
func TestAdversarialViewAndAtomicsAgree(t *testing.T) {
	m := advOpen(t, t.TempDir(), nil)
	va := accessor.New(m, binary.NativeEndian)
	m.WriteAt(make([]byte, 2*advCS), 0)
	w, err := va.Slice(advCS-16, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Release()
	for i := int64(0); i < 4; i++ {
		if _, err := va.AddUint64(advCS-16+8*i, uint64(i)+100); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		if got := binary.NativeEndian.Uint64(w.Bytes()[8*i:]); got != uint64(i)+100 {
			t.Errorf("view word %d = %d", i, got)
		}
	}
	binary.NativeEndian.PutUint64(w.Bytes()[16:], 777)
	if got, err := va.LoadUint64(advCS); err != nil || got != 777 {
		t.Errorf("LoadUint64 after a store through the view = %d, %v", got, err)
	}
	if got, err := va.ReadUint64(advCS); err != nil || got != 777 {
		t.Errorf("ReadUint64 (native) after a store through the view = %d, %v", got, err)
	}
}
