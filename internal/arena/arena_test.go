package arena

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

const slot = 64 << 10

// newFile returns a file of one slot filled with b.
func newFile(t *testing.T, b byte) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(bytes.Repeat([]byte{b}, slot)); err != nil {
		t.Fatal(err)
	}
	return f
}

// load reads the byte at p under a fault guard and reports whether it
// faulted.
func load(p unsafe.Pointer) (b byte, faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			faulted = true
		}
	}()
	return *(*byte)(p), false
}

func TestArena_MapUnmap(t *testing.T) {
	a, err := Reserve(4, slot)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	f1, f2 := newFile(t, 1), newFile(t, 2)
	p1, err := a.Map(1, f1, true)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := a.Map(2, f2, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Contiguous() {
		if unsafe.Add(p1, slot) != p2 {
			t.Fatalf("slots 1 and 2 at %p and %p, want adjacent", p1, p2)
		}
		// The last byte of slot 1 and the first of slot 2, as one range.
		got := unsafe.Slice((*byte)(unsafe.Add(p1, slot-1)), 2)
		if got[0] != 1 || got[1] != 2 {
			t.Fatalf("bytes across the boundary = %v, want [1 2]", got)
		}
	}
	// A store through the shared mapping reaches the file.
	*(*byte)(p1) = 9
	var b [1]byte
	if _, err := f1.ReadAt(b[:], 0); err != nil || b[0] != 9 {
		t.Fatalf("file byte after store = %d, %v; want 9", b[0], err)
	}
	if err := a.Unmap(1); err != nil {
		t.Fatal(err)
	}
	if a.Contiguous() {
		if _, faulted := load(p1); !faulted {
			t.Fatal("load from an unmapped slot did not fault")
		}
		if _, faulted := load(unsafe.Add(a.base, 0)); !faulted {
			t.Fatal("load from a slot never mapped did not fault")
		}
	}
	// Map a slot again, over an existing mapping too.
	if _, err := a.Map(1, f2, false); err != nil {
		t.Fatal(err)
	}
	p, err := a.Map(2, f1, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, faulted := load(p); faulted || got != 9 {
		t.Fatalf("slot 2 after remapping = %d (faulted %v), want 9", got, faulted)
	}
	if _, err := a.Map(4, f1, false); err == nil {
		t.Fatal("Map of slot 4 of 4 succeeded")
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}

func TestReserve_Invalid(t *testing.T) {
	for _, tc := range []struct {
		n    int
		size int64
		msg  string
	}{
		{0, slot, "reserve 0 slots of 65536 bytes: invalid size"},
		{-1, slot, "reserve -1 slots of 65536 bytes: invalid size"},
		{1, 0, "reserve 1 slot of 0 bytes: invalid size"},
		{1, 1000, "reserve 1 slot of 1000 bytes: invalid size"},
		{1 << 30, 1 << 40, "reserve 1073741824 slots of 1099511627776 bytes: does not fit the address space"},
	} {
		a, err := Reserve(tc.n, tc.size)
		if err == nil {
			a.Release()
			t.Errorf("Reserve(%d, %d) succeeded", tc.n, tc.size)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Reserve(%d, %d) = %v; want it to say %q", tc.n, tc.size, err, tc.msg)
		}
	}
}

func TestMapView(t *testing.T) {
	f1, f2, f3 := newFile(t, 1), newFile(t, 2), newFile(t, 3)
	v, err := MapView([]*os.File{f3, f1, f2}, slot, true)
	if err != nil {
		t.Skipf("no contiguous views here: %v", err)
	}
	b := v.Bytes()
	if len(b) != 3*slot || b[0] != 3 || b[slot] != 1 || b[2*slot] != 2 {
		t.Fatalf("view of 3 files: len %d, firsts %d %d %d", len(b), b[0], b[slot], b[2*slot])
	}
	b[slot] = 7
	var one [1]byte
	if _, err := f1.ReadAt(one[:], 0); err != nil || one[0] != 7 {
		t.Fatalf("store through the view: file has %d, %v", one[0], err)
	}
	if err := v.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestMapView_OneFile checks that a view of one file maps everywhere: it
// needs no fixed address, and a Batch falls back to one for a single chunk
// it cannot hold in its slot (one a Truncate deleted and made anew), so a
// platform without fixed mappings (Windows before placeholders, Wine) must
// not refuse it.
func TestMapView_OneFile(t *testing.T) {
	f := newFile(t, 5)
	v, err := MapView([]*os.File{f}, slot, true)
	if err != nil {
		t.Fatalf("MapView of one file: %v", err)
	}
	b := v.Bytes()
	if len(b) != slot || b[0] != 5 {
		t.Fatalf("view of one file: len %d, first %d; want %d, 5", len(b), b[0], slot)
	}
	b[1] = 9
	if err := v.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	var one [1]byte
	if _, err := f.ReadAt(one[:], 1); err != nil || one[0] != 9 {
		t.Fatalf("store through the view: file has %d, %v; want 9", one[0], err)
	}
	if err := v.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestArena_FlushAfterFileClosed checks Map's promise that f may be closed
// once mapped: the Manager closes a chunk's file while its slot stays
// mapped, and later Flushes and Unmaps the slot, which must still reach the
// file (the per-slot fallback's mmap-go flushes through a file handle).
func TestArena_FlushAfterFileClosed(t *testing.T) {
	f := newFile(t, 1)
	a, err := Reserve(1, slot)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	p, err := a.Map(0, f, true)
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	unsafe.Slice((*byte)(p), slot)[2] = 8
	if err := a.Flush(0); err != nil {
		t.Fatalf("Flush after the file was closed: %v", err)
	}
	if err := a.Unmap(0); err != nil {
		t.Fatalf("Unmap after the file was closed: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil || b[2] != 8 {
		t.Fatalf("file after Flush and Unmap: byte 2 = %d, %v; want 8", b[2], err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatalf("remove the file once unmapped: %v", err)
	}
}

func TestAdvise(t *testing.T) {
	a, err := Reserve(1, slot)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	p, err := a.Map(0, newFile(t, 5), false)
	if err != nil {
		t.Fatal(err)
	}
	for adv := Normal; adv <= DontNeed; adv++ {
		if err := Advise(p, slot, adv); err != nil {
			t.Errorf("Advise(%d): %v", adv, err)
		}
	}
	if got, _ := load(p); got != 5 {
		t.Fatalf("byte after DontNeed = %d, want 5 (the file's)", got)
	}
}

// TestArena_UnmapSlots: slots emptied together (runs and single slots,
// in any order) all fault afterwards, each is reported once, and a slot
// left out keeps its mapping.
func TestArena_UnmapSlots(t *testing.T) {
	a, err := Reserve(8, slot)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	ps := make([]unsafe.Pointer, 8)
	for k := range 8 {
		if ps[k], err = a.Map(k, newFile(t, byte(k+1)), false); err != nil {
			t.Fatal(err)
		}
	}
	reported := map[int]int{}
	a.UnmapSlots([]int{6, 1, 2, 0, 4}, func(k int, err error) {
		if err != nil {
			t.Errorf("slot %d: %v", k, err)
		}
		reported[k]++
	})
	for _, k := range []int{0, 1, 2, 4, 6} {
		if reported[k] != 1 {
			t.Errorf("slot %d reported %d times, want once", k, reported[k])
		}
		if _, faulted := load(ps[k]); !faulted {
			t.Errorf("load from emptied slot %d did not fault", k)
		}
	}
	for _, k := range []int{3, 5, 7} {
		if got, faulted := load(ps[k]); faulted || got != byte(k+1) {
			t.Errorf("slot %d kept out = %d (faulted %v), want %d", k, got, faulted, k+1)
		}
	}
	// The emptied slots take mappings again.
	if p, err := a.Map(1, newFile(t, 42), false); err != nil {
		t.Fatal(err)
	} else if got, faulted := load(p); faulted || got != 42 {
		t.Fatalf("slot 1 mapped again = %d (faulted %v), want 42", got, faulted)
	}
	if len(reported) != 5 {
		t.Errorf("reported slots %v, want 0, 1, 2, 4, 6", reported)
	}
}
