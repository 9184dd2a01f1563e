package arena

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile creates a file of size bytes filled with b and maps it at slot k.
func mapFile(t *testing.T, a *Arena, k int, size int64, b byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "chunk"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = b
	}
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Map(k, f, true); err != nil {
		t.Fatal(err)
	}
}

// TestOverLimit checks how a slot is emptied where the kernel refuses to
// put the reservation back over it (ENOMEM: more mappings than
// vm.max_map_count): by munmap and a reservation that replaces nothing. If
// nothing took the hole meanwhile, the slot works on as before; if another
// mapping did, the slot is lost: Unmap says so, Map refuses it, and neither
// the rest of the arena's use nor Release touches the mapping there.
func TestOverLimit(t *testing.T) {
	const size = 64 << 10
	page := os.Getpagesize()
	a, err := Reserve(4, size)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			a.Release()
		}
	}()
	for k := range 4 {
		mapFile(t, a, k, size, byte('a'+k))
	}
	var foreign unsafe.Pointer
	t.Cleanup(func() {
		SetLimitHooks(nil, nil, nil)
		if foreign != nil {
			unix.MunmapPtr(foreign, uintptr(page))
		}
	})

	// Slot 1: refused, and nothing takes the hole.
	SetLimitHooks(nil, func(k int) bool { return k == 1 }, nil)
	if err := a.Unmap(1); err != nil {
		t.Fatalf("Unmap(1) over the limit, hole untouched: %v", err)
	}
	if a.Lost(1) {
		t.Fatal("slot 1 lost although nothing took its range")
	}
	mapFile(t, a, 1, size, 'B')
	if got := *(*byte)(a.slotAddr(1)); got != 'B' {
		t.Fatalf("slot 1 mapped again reads %q, want 'B'", got)
	}

	// Slot 2: refused, and another mapping takes a page of the hole.
	SetLimitHooks(nil, func(k int) bool { return k == 2 }, func(p unsafe.Pointer, n uintptr) {
		// The hole's last page: with 64 KiB pages that is its only one,
		// and p+page would be the next slot's, which is mapped.
		at := unsafe.Add(p, n-uintptr(page))
		q, err := unix.MmapPtr(-1, 0, at, uintptr(page), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED_NOREPLACE)
		if err != nil || q != at {
			t.Errorf("mapping into the hole: %p, %v", q, err)
			return
		}
		foreign = q
		*(*byte)(q) = 'F'
	})
	if err := a.Unmap(2); !errors.Is(err, ErrSlotLost) || !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("Unmap(2) with its hole taken = %v, want ErrSlotLost and ENOMEM", err)
	}
	SetLimitHooks(nil, nil, nil)
	if foreign == nil {
		t.FailNow()
	}
	if !a.Lost(2) || a.Lost(3) {
		t.Fatalf("Lost(2) = %v, Lost(3) = %v; want true, false", a.Lost(2), a.Lost(3))
	}
	if err := a.Unmap(2); err != nil {
		t.Errorf("Unmap of a lost slot = %v, want nil (nothing of the arena's is there)", err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := a.Map(2, f, false); !errors.Is(err, ErrSlotLost) {
		t.Errorf("Map on a lost slot = %v, want ErrSlotLost", err)
	}
	// The slots around it work on.
	if err := a.Unmap(3); err != nil {
		t.Fatal(err)
	}
	mapFile(t, a, 3, size, 'D')
	if got := *(*byte)(a.slotAddr(3)); got != 'D' {
		t.Fatalf("slot 3 reads %q, want 'D'", got)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	released = true
	if got := *(*byte)(foreign); got != 'F' {
		t.Fatalf("the mapping in the lost slot reads %q after Release, want 'F'", got)
	}
	// Release gave the rest back: slot 0 and slot 3 are free ranges again.
	for _, k := range []int{0, 3} {
		p := a.slotAddr(k)
		q, err := unix.MmapPtr(-1, 0, p, size, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED_NOREPLACE)
		if err != nil || q != p {
			t.Errorf("slot %d after Release: not free (%p, %v)", k, q, err)
			continue
		}
		unix.MunmapPtr(q, size)
	}
}

// TestOverLimit_UnmapSlots: UnmapSlots never covers a lost slot, whose
// range may hold another owner's mapping, with the reservation of a run
// around it; and a run the kernel refuses (here a test's refusal of one of
// its slots) is emptied slot by slot, each slot as Unmap empties it.
func TestOverLimit_UnmapSlots(t *testing.T) {
	const size = 64 << 10
	page := os.Getpagesize()
	a, err := Reserve(6, size)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	for k := range 6 {
		mapFile(t, a, k, size, byte('a'+k))
	}
	var foreign unsafe.Pointer
	t.Cleanup(func() {
		SetLimitHooks(nil, nil, nil)
		if foreign != nil {
			unix.MunmapPtr(foreign, uintptr(page))
		}
	})
	// Slot 2 lost, another mapping in its hole.
	SetLimitHooks(nil, func(k int) bool { return k == 2 }, func(p unsafe.Pointer, n uintptr) {
		// The hole's last page: with 64 KiB pages that is its only one,
		// and p+page would be the next slot's, which is mapped.
		at := unsafe.Add(p, n-uintptr(page))
		q, err := unix.MmapPtr(-1, 0, at, uintptr(page), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED_NOREPLACE)
		if err != nil || q != at {
			t.Errorf("mapping into the hole: %p, %v", q, err)
			return
		}
		foreign = q
		*(*byte)(q) = 'F'
	})
	if err := a.Unmap(2); !errors.Is(err, ErrSlotLost) {
		t.Fatalf("Unmap(2) with its hole taken = %v, want ErrSlotLost", err)
	}
	if foreign == nil {
		t.FailNow()
	}
	// Slots 3 to 5 as one run, whose replacement slot 4's refusal fails:
	// each is emptied on its own, slot 4 through overLimit.
	SetLimitHooks(nil, func(k int) bool { return k == 4 }, nil)
	errs := map[int]error{}
	a.UnmapSlots([]int{5, 3, 1, 2, 0, 4}, func(k int, err error) { errs[k] = err })
	SetLimitHooks(nil, nil, nil)
	for k := range 6 {
		if err, ok := errs[k]; !ok || err != nil {
			t.Errorf("slot %d: reported %v, %v; want nil, true", k, err, ok)
		}
		if k == 2 {
			continue
		}
		if _, faulted := load(a.slotAddr(k)); !faulted {
			t.Errorf("slot %d still readable after UnmapSlots", k)
		}
	}
	if got := *(*byte)(foreign); got != 'F' {
		t.Fatalf("the mapping in the lost slot reads %q after UnmapSlots, want 'F'", got)
	}
	if a.Lost(4) {
		t.Error("slot 4 lost although nothing took its range")
	}
}
