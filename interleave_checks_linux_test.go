//go:build chunkmap_interleave && linux

package chunkmap

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Each test here makes the change that exactly one check of a lock-free
// read exists for, at the race site just before it, where no other check
// would see the change.

// TestInterleave_ScatteredSlotReusedBeforeCopy empties the slot a
// lock-free read checked, in an arena that is not contiguous, and puts
// other bytes at its address before the read copies from it, as the
// system may where an emptied slot's range is given back: the read's
// second check of the slot's own word must discard what it copied. An
// eviction maps nothing in the slot, so its generation stays, and no
// shrink moves the epoch: the own word is the only check that sees it.
func TestInterleave_ScatteredSlotReusedBeforeCopy(t *testing.T) {
	const cs = MinChunkSize
	was := scatteredArena
	scatteredArena = true
	t.Cleanup(func() { scatteredArena = was })
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 2 * cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.fbase == nil {
		t.Fatal("the arena is contiguous: the test cannot give the slot's range away")
	}
	for _, c := range []byte{'a', 'b'} {
		if _, err := m.Append(bytes.Repeat([]byte{c}, cs)); err != nil {
			t.Fatal(err)
		}
	}
	want := bytes.Repeat([]byte{'a'}, 8)
	p := make([]byte, 8)
	if _, err := m.ReadAt(p, 100); err != nil || !bytes.Equal(p, want) {
		t.Fatalf("first read = %q, %v; want %q", p, err, want)
	}
	if own := m.slots[0].own.Load(); own != 1 {
		t.Fatalf("slot 0 holds chunk %d after the first read, want 0", own-1)
	}
	gen := m.slots[0].gen.Load()
	ran := onceAt(t, siteRead1, func() {
		// Chunk 1 lives in slot 1: with MaxMapped 1 mapping it evicts
		// chunk 0 and leaves slot 0 empty, its generation unchanged.
		q := make([]byte, 8)
		if _, err := m.ReadAt(q, cs+100); err != nil || q[0] != 'b' {
			t.Errorf("read of chunk 1 at the race site = %q, %v", q, err)
		}
		if own, g := m.slots[0].own.Load(), m.slots[0].gen.Load(); own != 0 || g != gen {
			t.Errorf("slot 0 after chunk 1 was mapped: own %d gen %d, want 0 and %d: the test does not empty the slot", own, g, gen)
			return
		}
		// Other bytes where chunk 0 was, readable, as another mapping of
		// the process could put them once the range is given back.
		addr := m.slotAddr(0)
		if _, err := unix.MmapPtr(-1, 0, addr, cs, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED); err != nil {
			t.Errorf("map other bytes over the emptied slot: %v", err)
			return
		}
		copy(unsafe.Slice((*byte)(addr), cs), bytes.Repeat([]byte{'X'}, cs))
	})
	clear(p)
	_, err = m.ReadAt(p, 100)
	if !ran() {
		t.Fatal("the read reached no race site: it did not take the lock-free path")
	}
	if err != nil || !bytes.Equal(p, want) {
		t.Errorf("read whose emptied slot's range held other bytes before its copy = %q, %v; want %q", p, err, want)
	}
}

// TestInterleave_CutBeforeEpoch truncates the dataset below a read within
// one chunk after ReadAt checked Size and before the read loads the shrink
// epoch: the epoch is then the one after the cut, the chunk keeps its slot
// and its generation, and only the read's second check of Size sees that
// the bytes are no longer in the dataset. The read must end at the cut,
// with io.EOF, as a read after the Truncate does.
func TestInterleave_CutBeforeEpoch(t *testing.T) {
	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(bytes.Repeat([]byte{'a'}, cs)); err != nil {
		t.Fatal(err)
	}
	const off, cut = 1000, 500
	p := make([]byte, 8)
	if _, err := m.ReadAt(p, off); err != nil {
		t.Fatal(err)
	}
	ran := onceAt(t, siteRead1Sized, func() {
		if err := m.Truncate(cut); err != nil {
			t.Errorf("Truncate at the race site: %v", err)
		}
	})
	clear(p)
	n, err := m.ReadAt(p, off)
	if !ran() {
		t.Fatal("the read reached no race site: it did not take the lock-free path")
	}
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at %d, cut to %d after ReadAt checked Size = %d bytes %q, %v; want 0 bytes and io.EOF", off, cut, n, p[:n], err)
	}
}

// TestInterleave_CutBeforeStore truncates the dataset below a write within
// one chunk after WriteAt checked Size and before the store enters its
// slot: the chunk keeps its slot, so only the store's second check of Size
// sees that the write now lies past it. The write must then extend Size
// over itself, as a WriteAt past Size does, with zeros between the cut and
// its bytes; a store that went on would leave its bytes past Size, unseen
// until a growth reached them.
func TestInterleave_CutBeforeStore(t *testing.T) {
	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(bytes.Repeat([]byte{'a'}, cs)); err != nil {
		t.Fatal(err)
	}
	const off, cut = 1000, 500
	dirtyChunks(t, m, off) // the write lock-free
	word := []byte("01234567")
	ran := onceAt(t, siteWrite1Sized, func() {
		if err := m.Truncate(cut); err != nil {
			t.Errorf("Truncate at the race site: %v", err)
		}
	})
	if _, err := m.WriteAt(word, off); err != nil {
		t.Fatalf("WriteAt at %d, cut to %d after WriteAt checked Size: %v", off, cut, err)
	}
	if !ran() {
		t.Fatal("the write reached no race site: it did not take the lock-free path")
	}
	if got, want := m.Size(), int64(off+len(word)); got != want {
		t.Errorf("Size after a write at %d, cut to %d after WriteAt checked Size = %d, want %d", off, cut, got, want)
	}
	p := make([]byte, off+len(word)-cut)
	if _, err := m.ReadAt(p, cut); err != nil {
		t.Fatalf("read from the cut on: %v", err)
	}
	want := append(make([]byte, off-cut), word...)
	if !bytes.Equal(p, want) {
		t.Errorf("bytes from the cut at %d to the write's end = %q, want zeros then %q", cut, p, word)
	}
}
