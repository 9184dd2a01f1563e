//go:build chunkmap_interleave && linux

package chunkmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Each test here makes the change that exactly one check of a lock-free
// read or store exists for, at the race site just before it, where no
// other check would see the change.

// lockFreeRead is a read that may take a lock-free path: ReadAt,
// LoadUint64 of the word at off (p 8 bytes long, in the machine's order),
// or a Gather of the words of p from off on.
type lockFreeRead struct {
	name  string
	sized raceSite // its race site after its caller checked Size
	site  raceSite // its race site before the copy
	read  func(m *Manager, p []byte, off int64) (int, error)
	past  error // its error for bytes past Size
}

var (
	readAt     = lockFreeRead{"ReadAt", siteReadSized, siteRead1, (*Manager).ReadAt, io.EOF}
	readAcross = lockFreeRead{"ReadAt across chunks", siteReadSized, siteReadSpan, (*Manager).ReadAt, io.EOF}
	loadWord   = lockFreeRead{"LoadUint64", siteAtomicSized, siteAtomicLoad, func(m *Manager, p []byte, off int64) (int, error) {
		x, err := m.LoadUint64(off)
		if err != nil {
			return 0, err
		}
		binary.NativeEndian.PutUint64(p, x)
		return 8, nil
	}, ErrOutOfRange}
	gatherWords = lockFreeRead{"Gather", siteBlockSized, siteGather, func(m *Manager, p []byte, off int64) (int, error) {
		offs := make([]int64, len(p)/8)
		for i := range offs {
			offs[i] = off + 8*int64(i)
		}
		if err := m.Gather(p, offs, 8); err != nil {
			return 0, err
		}
		return len(p), nil
	}, ErrOutOfRange}
)

// openChunks opens a dataset of chunks of MinChunkSize bytes with opts
// (ChunkSize and NoAdmission set), closed when the test ends, and appends
// a chunk of each byte of fills.
func openChunks(t *testing.T, opts Options, fills ...byte) *Manager {
	t.Helper()
	opts.ChunkSize, opts.NoAdmission = MinChunkSize, true
	m, err := Open(t.TempDir(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for _, c := range fills {
		if _, err := m.Append(bytes.Repeat([]byte{c}, MinChunkSize)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestInterleave_ScatteredSlotReusedBeforeCopy empties the slot a
// lock-free read checked, in an arena that is not contiguous, and puts
// other bytes at its address before the read copies from it, as the
// system may where an emptied slot's range is given back: the read's
// second check of the slot's own word must discard what it copied. An
// eviction maps nothing in the slot, so its generation stays, and no
// shrink moves the epoch: the own word is the only check that sees it.
func TestInterleave_ScatteredSlotReusedBeforeCopy(t *testing.T) {
	was := scatteredArena
	scatteredArena = true
	t.Cleanup(func() { scatteredArena = was })
	for _, rd := range []lockFreeRead{readAt, loadWord, gatherWords} {
		t.Run(rd.name, func(t *testing.T) { testScatteredSlotReused(t, rd) })
	}
}

// testScatteredSlotReused is TestInterleave_ScatteredSlotReusedBeforeCopy
// for one kind of read.
func testScatteredSlotReused(t *testing.T, rd lockFreeRead) {
	const cs = MinChunkSize
	m := openChunks(t, Options{MaxMapped: 1, ArenaSize: 2 * cs}, 'a', 'b')
	if m.fbase == nil {
		t.Fatal("the arena is contiguous: the test cannot give the slot's range away")
	}
	want := bytes.Repeat([]byte{'a'}, 8)
	p := make([]byte, 8)
	if _, err := rd.read(m, p, 104); err != nil || !bytes.Equal(p, want) {
		t.Fatalf("first read = %q, %v; want %q", p, err, want)
	}
	if own := m.slots[0].own.Load(); own != 1 {
		t.Fatalf("slot 0 holds chunk %d after the first read, want 0", own-1)
	}
	gen := m.slots[0].gen.Load()
	ran := onceAt(t, rd.site, func() {
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
	_, err := rd.read(m, p, 104)
	if !ran() {
		t.Fatal("the read reached no race site: it did not take the lock-free path")
	}
	if err != nil || !bytes.Equal(p, want) {
		t.Errorf("read whose emptied slot's range held other bytes before its copy = %q, %v; want %q", p, err, want)
	}
}

// TestInterleave_CutBeforeEpoch truncates the dataset below a read
// (within one chunk or across two, an atomic load, a Gather) after the
// caller checked Size and before the read loads the shrink epoch: the
// epoch is then the one after the cut, the chunks keep their slots and
// generations, and only the read's second check of Size sees that the
// bytes are no longer in the dataset. The read must end at the cut, as one
// after the Truncate does.
func TestInterleave_CutBeforeEpoch(t *testing.T) {
	const cs = MinChunkSize
	tests := []struct {
		lockFreeRead
		off, cut int64
		n        int
	}{
		{readAt, 1000, 500, 8},
		{readAcross, cs - 8, cs + 4, 16},
		{loadWord, 1000, 500, 8},
		{gatherWords, 1000, 500, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := openChunks(t, Options{}, 'a', 'a')
			p := make([]byte, tc.n)
			if _, err := tc.read(m, p, tc.off); err != nil {
				t.Fatal(err)
			}
			ran := onceAt(t, tc.sized, func() {
				if err := m.Truncate(tc.cut); err != nil {
					t.Errorf("Truncate at the race site: %v", err)
				}
			})
			clear(p)
			n, err := tc.read(m, p, tc.off)
			if !ran() {
				t.Fatal("the read reached no race site: it did not take the lock-free path")
			}
			want := 0
			if tc.past == io.EOF {
				want = int(max(0, tc.cut-tc.off)) // ReadAt's bytes before Size
			}
			if n != want || !errors.Is(err, tc.past) {
				t.Errorf("%s at %d, cut to %d after the caller checked Size = %d bytes %q, %v; want %d bytes and %v", tc.name, tc.off, tc.cut, n, p[:n], err, want, tc.past)
			}
		})
	}
}

// TestInterleave_CutBeforeStore truncates the dataset below a store within
// one chunk after its caller checked Size and before the store enters its
// slot: the chunk keeps its slot, so only the store's second check of Size
// sees that the store now lies past it. A WriteAt must then extend Size
// over itself, as one past Size does, with zeros between the cut and its
// bytes; an atomic store and a Scatter, which do not extend Size, must fail
// with ErrOutOfRange and store nothing.
// A store that went on would leave its bytes past Size, unseen until a
// growth reached them.
func TestInterleave_CutBeforeStore(t *testing.T) {
	const off, cut = 1000, 500
	word := []byte("01234567")
	tests := []struct {
		name  string
		site  raceSite
		store func(m *Manager) error
		// size is Size after the store; the bytes from the cut to it
		// read as zeros, then the word if the store extended Size.
		size int64
	}{
		{"WriteAt", siteWrite1Sized, func(m *Manager) error {
			_, err := m.WriteAt(word, off)
			return err
		}, off + 8},
		{"StoreUint64", siteAtomicSized, func(m *Manager) error {
			return outOfRange(m.StoreUint64(off, binary.NativeEndian.Uint64(word)))
		}, cut},
		{"Scatter", siteBlockSized, func(m *Manager) error {
			return outOfRange(m.Scatter(word, []int64{off}, 8))
		}, cut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := openChunks(t, Options{}, 'a')
			dirtyChunks(t, m, off) // the store lock-free
			ran := onceAt(t, tc.site, func() {
				if err := m.Truncate(cut); err != nil {
					t.Errorf("Truncate at the race site: %v", err)
				}
			})
			if err := tc.store(m); err != nil {
				t.Fatalf("%s at %d, cut to %d after the caller checked Size: %v", tc.name, off, cut, err)
			}
			if !ran() {
				t.Fatal("the store reached no race site: it did not take the lock-free path")
			}
			if got := m.Size(); got != tc.size {
				t.Errorf("Size after a %s at %d, cut to %d after the caller checked Size = %d, want %d", tc.name, off, cut, got, tc.size)
			}
			// Grown to past the word, the dataset shows whether the
			// store left its bytes past Size.
			if _, err := m.WriteAt([]byte{'z'}, off+8); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, off+8-cut)
			if _, err := m.ReadAt(p, cut); err != nil {
				t.Fatalf("read from the cut on: %v", err)
			}
			want := make([]byte, len(p))
			if tc.size > cut {
				copy(want[off-cut:], word)
			}
			if !bytes.Equal(p, want) {
				t.Errorf("bytes from the cut at %d to the word's end = %q, want %q", cut, p, want)
			}
		})
	}
}

// outOfRange returns nil if err matches ErrOutOfRange, and an error
// saying what it is otherwise.
func outOfRange(err error) error {
	if !errors.Is(err, ErrOutOfRange) {
		return fmt.Errorf("got %v, want ErrOutOfRange", err)
	}
	return nil
}

// inStages makes first run at the first race site of kind a that a
// lock-free access reaches from now on, and second at the first of kind b
// reached after first returned, until the test ends: the accesses first
// and second make themselves reach no site then, since each stage runs
// once. It returns a function reporting whether each stage ran.
func inStages(t *testing.T, a raceSite, first func(), b raceSite, second func()) (ran func() (bool, bool)) {
	t.Helper()
	hook, ran := stages(a, first, b, second)
	raceHook.Store(&hook)
	t.Cleanup(func() { raceHook.Store(nil) })
	return ran
}

// stages is inStages' hook, for a test that runs it among others.
func stages(a raceSite, first func(), b raceSite, second func()) (hook func(raceSite), ran func() (bool, bool)) {
	var one, armed, two atomic.Bool
	hook = func(at raceSite) {
		switch {
		case at == a && one.CompareAndSwap(false, true):
			first()
			armed.Store(true)
		case at == b && armed.Load() && two.CompareAndSwap(false, true):
			second()
		}
	}
	return hook, func() (bool, bool) { return one.Load(), two.Load() }
}

// TestInterleave_SlotBackBeforeSecondCheck gives the slot of a lock-free
// read to another chunk before the read copies from it, and back to the
// read's chunk after the copy: the copy read the other chunk's bytes, and
// the own word is the read's chunk again when the read checks it. Only the
// slot's generation, which every mapping advances, tells; the read must
// discard what it copied and return its own chunk's bytes.
func TestInterleave_SlotBackBeforeSecondCheck(t *testing.T) {
	const cs = MinChunkSize
	fill := func(idx int64) byte { return byte('a' + idx) }
	tests := []struct {
		lockFreeRead
		mapped int
		off    int64
		n      int
	}{
		{readAt, 1, 104, 8},
		{readAcross, 2, cs - 8, 16},
		{loadWord, 1, 104, 8},
		{gatherWords, 1, 104, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := openChunks(t, Options{MaxMapped: tc.mapped, ArenaSize: 2 * cs}, fill(0), fill(1), fill(2))
			var want []byte
			for o := tc.off; o < tc.off+int64(tc.n); o++ {
				want = append(want, fill(o/cs))
			}
			p := make([]byte, tc.n)
			if _, err := tc.read(m, p, tc.off); err != nil || !bytes.Equal(p, want) {
				t.Fatalf("first read = %q, %v; want %q", p, err, want)
			}
			readIn := func(idx, own int64) {
				q := make([]byte, 8)
				if _, err := m.ReadAt(q, idx*cs+200); err != nil || q[0] != fill(idx) {
					t.Errorf("read of chunk %d at a race site = %q, %v", idx, q, err)
				}
				if got := m.slots[0].own.Load(); got != own {
					t.Errorf("slot 0 holds chunk %d after a read of chunk %d, want %d", got-1, idx, own-1)
				}
			}
			gen := m.slots[0].gen.Load()
			ran := inStages(t, tc.site, func() { readIn(2, 3) }, siteReadCopied, func() { readIn(0, 1) })
			clear(p)
			_, err := tc.read(m, p, tc.off)
			if one, two := ran(); !one || !two {
				t.Fatalf("stages run: %v, %v; the read did not take the lock-free path", one, two)
			}
			if g := m.slots[0].gen.Load(); g < gen+2 {
				t.Fatalf("slot 0's generation went from %d to %d: the test does not map chunks 2 and 0 there again", gen, g)
			}
			if err != nil || !bytes.Equal(p, want) {
				t.Errorf("read whose slot held another chunk during its copy = %q, %v; want %q", p, err, want)
			}
		})
	}
}

// TestInterleave_CopyOfGrowthZeros makes the copy of a lock-free read
// (within a chunk or across two, an atomic load, a Gather) come while a
// growth that follows a Truncate has zeroed the bytes the cut left in the
// chunk and has not yet written over them: the chunks keep their slots and
// generations, and the read checked Size before the cut, so only the
// shrink epoch tells. The dataset never held those zeros (first a's, then
// b's): the read must return a's or b's, or its error for bytes past Size.
func TestInterleave_CopyOfGrowthZeros(t *testing.T) {
	const cs = MinChunkSize
	tests := []struct {
		lockFreeRead
		off, cut int64
		n        int
	}{
		{readAt, cs + 100, cs + 104, 16},
		{readAcross, cs - 8, cs + 4, 16},
		{loadWord, cs + 104, cs + 108, 8},
		// One value: a Gather of more is also read whole again
		// after a shrink (readWhole), which would hide the zeros.
		{gatherWords, cs + 104, cs + 108, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := openChunks(t, Options{}, 'a', 'a', 'a')
			as, bs := bytes.Repeat([]byte{'a'}, tc.n), bytes.Repeat([]byte{'b'}, tc.n)
			p := make([]byte, tc.n)
			if _, err := tc.read(m, p, tc.off); err != nil || !bytes.Equal(p, as) {
				t.Fatalf("first read = %q, %v", p, err)
			}
			zeroed, release := make(chan struct{}), make(chan struct{})
			letGo := sync.OnceFunc(func() { close(release) })
			defer letGo()
			written := make(chan error, 1)
			// The growth stops at its race site once it zeroed the
			// bytes past the cut, until the read has copied; then it
			// ends before the read goes on.
			var growing atomic.Bool
			inOrder, ran := stages(tc.site, func() {
				growing.Store(true)
				go func() {
					err := m.Truncate(tc.cut)
					if err == nil {
						_, err = m.WriteAt(bs, tc.off)
					}
					written <- err
				}()
				select {
				case <-zeroed:
				case <-time.After(time.Minute):
					t.Error("the growth did not zero the stale bytes in a minute")
				}
			}, siteReadCopied, func() {
				// The write done before the read checks anything
				// again: its bytes and Size are then all there is to
				// see, and only the epoch tells of the zeros copied.
				letGo()
				written <- <-written
			})
			hook := func(at raceSite) {
				if at == siteStaleZeroed && growing.CompareAndSwap(true, false) {
					close(zeroed)
					<-release
				}
				inOrder(at)
			}
			raceHook.Store(&hook)
			t.Cleanup(func() { raceHook.Store(nil) })
			n, err := tc.read(m, p, tc.off)
			letGo()
			if one, two := ran(); !one || !two {
				t.Fatalf("stages run: %v, %v; the read did not take the lock-free path", one, two)
			}
			if err := <-written; err != nil {
				t.Fatalf("the Truncate and the write: %v", err)
			}
			switch {
			case err == nil && !bytes.Equal(p, as) && !bytes.Equal(p, bs):
				t.Errorf("%s across a cut and a growth = %d, %q, nil; the dataset held a's, then b's", tc.name, n, p)
			case err != nil && !errors.Is(err, tc.past):
				t.Errorf("%s across a cut and a growth: %v, want the bytes or %v", tc.name, err, tc.past)
			}
			if _, err := tc.read(m, p, tc.off); err != nil || !bytes.Equal(p, bs) {
				t.Errorf("read after the write = %q, %v; want b's", p, err)
			}
		})
	}
}
