package chunkmap

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/arena"
	"golang.org/x/sys/unix"
)

// TestMapLost_ServedByPread: a mapping refused with ENOMEM after the
// kernel emptied its slot, where another owner then mapped into the hole,
// loses the slot (arena.ErrSlotLost). A chunk whose slot is lost is served
// by pread (lookupLocked); but on the call that lost it the refusal was
// retried (refusedLocked) into the lost slot, whose error (ErrSlotLost, no
// refusal) ReadAt returned instead of the chunk's bytes.
//
// The other owner maps a page of the hole, or all of it: a 64 KiB mapping
// fills the slot of a chunk of the smallest size (with 64 KiB pages, one
// page does), leaving no hole to tell it by, and the slot was taken for
// its reservation still, and mapped over the other owner's memory.
func TestMapLost_ServedByPread(t *testing.T) {
	page := uintptr(os.Getpagesize())
	for _, tc := range []struct {
		name  string
		whole bool
	}{{"a page of the hole", false}, {"the whole hole", true}} {
		t.Run(tc.name, func(t *testing.T) { testMapLost(t, page, tc.whole) })
	}
}

func testMapLost(t *testing.T, page uintptr, whole bool) {
	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data := make([]byte, 2*cs)
	for i := range data {
		data[i] = byte(i*7 + i>>16)
	}
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := m.ReadAt(buf, 0); err != nil { // maps chunk 0, evicts chunk 1
		t.Fatal(err)
	}
	k := m.slotNum(1)
	var other unsafe.Pointer // the other owner's mapping in the hole
	size := page
	t.Cleanup(func() { arena.SetLimitHooks(nil, nil, nil) })
	arena.SetLimitHooks(func(j int) bool { return j == k }, nil, func(p unsafe.Pointer, n uintptr) {
		if whole {
			size = n
		}
		if q, err := unix.MmapPtr(-1, 0, p, size, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED_NOREPLACE); err == nil && q == p {
			other = q
		}
	})
	_, err = m.ReadAt(buf, cs+100)
	arena.SetLimitHooks(nil, nil, nil)
	if other == nil {
		t.Skip("could not map into the emptied slot")
	}
	defer unix.MunmapPtr(other, size)
	if !m.ar.Lost(k) {
		t.Fatalf("slot %d is not lost", k)
	}
	if err != nil {
		t.Fatalf("ReadAt of the chunk whose slot its mapping lost: %v (arena.ErrSlotLost: %v)", err, errors.Is(err, arena.ErrSlotLost))
	}
	if !bytes.Equal(buf, data[cs+100:cs+164]) {
		t.Fatalf("ReadAt read other bytes than were written")
	}
	if _, err := m.ReadAt(buf, cs+200); err != nil || !bytes.Equal(buf, data[cs+200:cs+264]) {
		t.Fatalf("ReadAt after the loss: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Close released the arena around the lost slot: the other owner's
	// mapping is still there.
	// (A kernel before 4.17, and qemu-user 7.2, take the flag for a
	// hint, and map elsewhere where the range is taken.)
	if q, err := unix.MmapPtr(-1, 0, other, page, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED_NOREPLACE); err == nil {
		unix.MunmapPtr(q, page)
		if q == other {
			t.Fatalf("the other owner's mapping at %p was unmapped", other)
		}
	}
}
