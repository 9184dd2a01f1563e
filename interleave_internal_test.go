//go:build chunkmap_interleave

package chunkmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// onceAt makes fn run at the first race site of kind site that a
// lock-free access reaches from now on, until the test ends.
func onceAt(t *testing.T, site raceSite, fn func()) (ran func() bool) {
	t.Helper()
	reached := hooksAt(t, map[raceSite]func(){site: fn})
	return func() bool { return reached()[site] }
}

// hooksAt makes each function of fns run at the first race site of its
// kind that a lock-free access reaches from now on, until the test ends,
// and returns a function reporting which sites were reached.
func hooksAt(t *testing.T, fns map[raceSite]func()) (reached func() map[raceSite]bool) {
	t.Helper()
	done := make(map[raceSite]*atomic.Bool, len(fns))
	for site := range fns {
		done[site] = new(atomic.Bool)
	}
	hook := func(at raceSite) {
		if fn, ok := fns[at]; ok && done[at].CompareAndSwap(false, true) {
			fn()
		}
	}
	raceHook.Store(&hook)
	t.Cleanup(func() { raceHook.Store(nil) })
	return func() map[raceSite]bool {
		r := make(map[raceSite]bool, len(done))
		for site, d := range done {
			r[site] = d.Load()
		}
		return r
	}
}

// dirtyChunks writes the byte at each of offs over with itself until the
// chunk there is marked dirty in its slot. Stores after a Sync take the
// locked path, which maps the chunk, and sends the first few to the file
// (cleanWrites) before it marks the chunk dirty; a store to a dirty chunk
// is lock-free, and reaches its race site.
func dirtyChunks(t *testing.T, m *Manager, offs ...int64) {
	t.Helper()
	p := make([]byte, 1)
	for _, off := range offs {
		for i := 0; !m.slot(off >> m.shift).isDirty(); i++ {
			if i > 2*cleanWrites {
				t.Fatalf("%d writes at %d left its chunk clean", i, off)
			}
			if _, err := m.ReadAt(p, off); err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestInterleave_SlotGivenAwayBeforeCopy gives the slot a lock-free read
// checked to another chunk before the read copies from it, every time: in
// an arena of two slots, a read of chunk 2 evicts chunk 0 from slot 0 and
// maps chunk 2 there. The read must notice (its second check of the slot)
// and return chunk 0's bytes, read again; without the second check it
// returned chunk 2's.
func TestInterleave_SlotGivenAwayBeforeCopy(t *testing.T) {
	const cs = MinChunkSize
	fill := func(idx int64) byte { return byte('a' + idx) }
	tests := []struct {
		name   string
		site   raceSite
		mapped int
		read   func(m *Manager) ([]byte, error)
		want   []byte
	}{
		{"ReadAt", siteRead1, 1, func(m *Manager) ([]byte, error) {
			p := make([]byte, 8)
			_, err := m.ReadAt(p, 100)
			return p, err
		}, bytes.Repeat([]byte{fill(0)}, 8)},
		{"ReadAt across chunks", siteReadSpan, 2, func(m *Manager) ([]byte, error) {
			p := make([]byte, 16)
			_, err := m.ReadAt(p, cs-8)
			return p, err
		}, append(bytes.Repeat([]byte{fill(0)}, 8), bytes.Repeat([]byte{fill(1)}, 8)...)},
		{"LoadUint64", siteAtomicLoad, 1, func(m *Manager) ([]byte, error) {
			x, err := m.LoadUint64(104)
			return binary.NativeEndian.AppendUint64(nil, x), err
		}, bytes.Repeat([]byte{fill(0)}, 8)},
		{"Gather", siteGather, 1, func(m *Manager) ([]byte, error) {
			p := make([]byte, 16)
			err := m.Gather(p, []int64{100, 200}, 8)
			return p, err
		}, bytes.Repeat([]byte{fill(0)}, 16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: tc.mapped, ArenaSize: 2 * cs, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for idx := range int64(4) {
				if _, err := m.Append(bytes.Repeat([]byte{fill(idx)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := tc.read(m); err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("first read = %q, %v; want %q", got, err, tc.want)
			}
			if own := m.slots[0].own.Load(); own != 1 {
				t.Fatalf("slot 0 holds chunk %d after the first read, want 0", own-1)
			}
			ran := onceAt(t, tc.site, func() {
				p := make([]byte, 8)
				if _, err := m.ReadAt(p, 2*cs+100); err != nil || p[0] != fill(2) {
					t.Errorf("read of chunk 2 at the race site = %q, %v", p, err)
				}
				if own := m.slots[0].own.Load(); own != 3 {
					t.Errorf("slot 0 holds chunk %d after a read of chunk 2, want 2: the test does not give the slot away", own-1)
				}
			})
			got, err := tc.read(m)
			if !ran() {
				t.Fatal("the read reached no race site: it did not take the lock-free path")
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("read whose slot went to another chunk before its copy = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestInterleave_FollowerClosedDuringRead closes a following reader while
// its ReadAt of bytes its writer appended since its last pull is under
// way, after the ReadAt found it open and before it pulled the writer's
// state. The read must fail with ErrClosed: a closed reader pulls nothing,
// and read with the Size of its last pull it said io.EOF of bytes the
// dataset held.
func TestInterleave_FollowerClosedDuringRead(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Append(bytes.Repeat([]byte{'a'}, 100)); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	off, err := w.Append(bytes.Repeat([]byte{'b'}, 100))
	if err != nil {
		t.Fatal(err)
	}
	ran := onceAt(t, siteFollowPull, func() {
		if err := r.Close(); err != nil {
			t.Errorf("the reader's Close during its read: %v", err)
		}
	})
	p := make([]byte, 100)
	n, err := r.ReadAt(p, off)
	if !ran() {
		t.Fatal("the read did not follow its writer: the test does not reach the race site")
	}
	if !errors.Is(err, ErrClosed) {
		t.Errorf("ReadAt of an appended record by a reader closed during it = %d, %v; want ErrClosed", n, err)
	}
}

// TestInterleave_EvictedDuringStore evicts the chunk a lock-free store
// (WriteAt within a chunk or across two, Scatter, StoreUint64, AddUint64)
// has entered and checked, before the store: in an arena of two slots, a
// read of chunk 2 on another goroutine needs slot 0, which holds chunk 0.
// The eviction must wait for the store (slots.go: the Manager empties the
// slot, then drains its writers before it maps another chunk there), so
// the bytes land in chunk 0, and chunk 2 keeps its own. Without the
// drain, the store went to chunk 2's mapping.
func TestInterleave_EvictedDuringStore(t *testing.T) {
	const cs = MinChunkSize
	fill := func(idx int64) byte { return byte('a' + idx) }
	writeAt := func(m *Manager, p []byte, off int64) error {
		_, err := m.WriteAt(p, off)
		return err
	}
	tests := []struct {
		name   string
		site   raceSite
		mapped int
		off    int64 // of the store, 16 bytes
		write  func(m *Manager, p []byte, off int64) error
	}{
		{"WriteAt", siteWrite1, 1, 100, writeAt},
		{"WriteAt across chunks", siteWriteSpan, 2, cs - 8, writeAt},
		{"Scatter", siteScatter, 1, 100, func(m *Manager, p []byte, off int64) error {
			return m.Scatter(p, []int64{off + 8, off}, 8) // out of order
		}},
		{"StoreUint64", siteAtomicWrite, 1, 104, func(m *Manager, p []byte, off int64) error {
			if err := m.StoreUint64(off, binary.NativeEndian.Uint64(p)); err != nil {
				return err
			}
			return m.StoreUint64(off+8, binary.NativeEndian.Uint64(p[8:]))
		}},
		{"AddUint64", siteAtomicWrite, 1, 104, func(m *Manager, p []byte, off int64) error {
			// Each word of the store holds chunk 0's fill: add the
			// difference.
			for i := range int64(2) {
				x := binary.NativeEndian.Uint64(p[8*i:])
				if _, err := m.AddUint64(off+8*i, x-binary.NativeEndian.Uint64(bytes.Repeat([]byte{fill(0)}, 8))); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := Open(dir, &Options{ChunkSize: cs, MaxMapped: tc.mapped, ArenaSize: 2 * cs, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { m.Close() }() // the last one opened
			for idx := range int64(4) {
				if _, err := m.Append(bytes.Repeat([]byte{fill(idx)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			dirtyChunks(t, m, tc.off, tc.off+15)
			if own := m.slots[0].own.Load(); own != 1 {
				t.Fatalf("slot 0 holds chunk %d after the writes, want 0", own-1)
			}
			read2 := make(chan error, 1)
			ran := onceAt(t, tc.site, func() {
				go func() {
					p := make([]byte, 8)
					_, err := m.ReadAt(p, 2*cs+100)
					if err == nil && !bytes.Equal(p, bytes.Repeat([]byte{fill(2)}, 8)) {
						err = errors.New("read " + string(p))
					}
					read2 <- err
				}()
				// The eviction has begun once the slot is empty; it must
				// stay so, the read waiting, while the store is
				// announced. A Manager that does not wait gives the
				// slot to chunk 2 at once.
				for began := time.Now(); m.slots[0].own.Load() == 1; {
					if time.Since(began) > time.Minute {
						t.Error("the read of chunk 2 did not evict chunk 0 in a minute")
						return
					}
					runtime.Gosched()
				}
				for deadline := time.Now().Add(20 * time.Millisecond); ; {
					if own := m.slots[0].own.Load(); own != 0 {
						t.Errorf("slot 0 went to chunk %d while a store to chunk 0 was announced in it", own-1)
						return
					}
					if time.Now().After(deadline) {
						return
					}
					runtime.Gosched()
				}
			})
			want := []byte("0123456789abcdef")
			p := want
			if tc.site == siteScatter {
				p = []byte("89abcdef01234567") // as the offsets go
			}
			if err := tc.write(m, p, tc.off); err != nil {
				t.Fatalf("%s at %d: %v", tc.name, tc.off, err)
			}
			if !ran() {
				t.Fatal("the write reached no race site: it did not take the lock-free path")
			}
			if err := <-read2; err != nil {
				t.Errorf("read of chunk 2 during the store: %v", err)
			}
			wantRange := func(what string, off int64, want []byte) {
				t.Helper()
				got := make([]byte, len(want))
				if _, err := m.ReadAt(got, off); err != nil {
					t.Errorf("%s: ReadAt(%d): %v", what, off, err)
					return
				}
				for i := range want {
					if got[i] != want[i] {
						end := min(i+16, len(want))
						t.Errorf("%s: ReadAt(%d) differs at offset %d: %q, want %q", what, off, off+int64(i), got[i:end], want[i:end])
						return
					}
				}
			}
			wantRange("the store", tc.off, want)
			wantRange("chunk 2", 2*cs, bytes.Repeat([]byte{fill(2)}, cs))
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if m, err = Open(dir, nil); err != nil {
				t.Fatal(err)
			}
			wantRange("the store after a reopen", tc.off, want)
			wantRange("chunk 2 after a reopen", 2*cs, bytes.Repeat([]byte{fill(2)}, cs))
		})
	}
}

// TestInterleave_TruncatedDuringStore cuts the dataset below a lock-free
// store that has entered its slot and checked Size, before the store, and
// grows it back: a Truncate keeping the chunk, then a Truncate up. The cut
// must wait for the store (slots.go: a Truncate drains the stores in
// flight on the chunks it keeps), so the store lands before the growth
// zeroes what the cut left past Size, and every byte there reads as zero.
// Without the wait, the growth zeroed first and the store's bytes came
// back past the cut.
func TestInterleave_TruncatedDuringStore(t *testing.T) {
	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(bytes.Repeat([]byte{'a'}, 2*cs)); err != nil {
		t.Fatal(err)
	}
	const off, cut = cs + 100, cs + 50
	dirtyChunks(t, m, off)
	resized := make(chan error, 1)
	ran := onceAt(t, siteWrite1, func() {
		go func() {
			err := m.Truncate(cut)
			if err == nil {
				err = m.Truncate(2 * cs)
			}
			resized <- err
		}()
		for began := time.Now(); m.Size() != cut; runtime.Gosched() {
			select {
			case err := <-resized:
				resized <- err // for the test's check below
				t.Error("the Truncate and the growth after it returned while a store past the cut was announced")
				return
			default:
			}
			if time.Since(began) > time.Minute {
				t.Error("the Truncate did not lower Size in a minute")
				return
			}
		}
		for deadline := time.Now().Add(20 * time.Millisecond); time.Now().Before(deadline); runtime.Gosched() {
			if size := m.Size(); size != cut {
				t.Errorf("Size went from the cut's %d to %d while a store past it was announced", cut, size)
				return
			}
		}
	})
	if _, err := m.WriteAt([]byte("0123456789abcdef"), off); err != nil {
		t.Fatalf("WriteAt at %d: %v", off, err)
	}
	if !ran() {
		t.Fatal("the write reached no race site: it did not take the lock-free path")
	}
	if err := <-resized; err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2*cs-cut)
	if _, err := m.ReadAt(got, cut); err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("byte %d, past the cut to %d and grown back, reads %q, want zeros", cut+int64(i), int64(cut), got[i:min(i+16, len(got))])
	}
}

// TestInterleave_ClosedDuringAccess closes the Manager while a lock-free
// access is between its check of its slot and the access itself: Close
// runs on another goroutine, and the access goes on once Close has marked
// the Manager closed. A read must return ErrClosed or the bytes; a store
// either fails with ErrClosed or returns success, and then its bytes are
// in the files when the dataset is opened again (Close waits for stores in
// flight before its final Sync). Nothing may crash or hang.
func TestInterleave_ClosedDuringAccess(t *testing.T) {
	const cs = MinChunkSize
	fill := func(idx int64) byte { return byte('a' + idx) }
	word := []byte("0123456789abcdef")
	tests := []struct {
		name string
		site raceSite
		off  int64 // of the access, 16 bytes (8 for atomics)
		// access reads or stores at off and returns the bytes read.
		access func(m *Manager, off int64) ([]byte, error)
		write  bool
	}{
		{"ReadAt", siteRead1, 104, func(m *Manager, off int64) ([]byte, error) {
			p := make([]byte, 16)
			_, err := m.ReadAt(p, off)
			return p, err
		}, false},
		{"ReadAt across chunks", siteReadSpan, cs - 8, func(m *Manager, off int64) ([]byte, error) {
			p := make([]byte, 16)
			_, err := m.ReadAt(p, off)
			return p, err
		}, false},
		{"Gather", siteGather, 104, func(m *Manager, off int64) ([]byte, error) {
			p := make([]byte, 16)
			err := m.Gather(p, []int64{off, off + 8}, 8)
			return p, err
		}, false},
		{"LoadUint64", siteAtomicLoad, 104, func(m *Manager, off int64) ([]byte, error) {
			x, err := m.LoadUint64(off)
			return binary.NativeEndian.AppendUint64(nil, x), err
		}, false},
		{"WriteAt", siteWrite1, 104, func(m *Manager, off int64) ([]byte, error) {
			_, err := m.WriteAt(word, off)
			return nil, err
		}, true},
		{"WriteAt across chunks", siteWriteSpan, cs - 8, func(m *Manager, off int64) ([]byte, error) {
			_, err := m.WriteAt(word, off)
			return nil, err
		}, true},
		{"Scatter", siteScatter, 104, func(m *Manager, off int64) ([]byte, error) {
			return nil, m.Scatter(word, []int64{off, off + 8}, 8)
		}, true},
		{"StoreUint64", siteAtomicWrite, 104, func(m *Manager, off int64) ([]byte, error) {
			return nil, m.StoreUint64(off, binary.NativeEndian.Uint64(word))
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := Open(dir, &Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 4 * cs, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for idx := range int64(2) {
				if _, err := m.Append(bytes.Repeat([]byte{fill(idx)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			dirtyChunks(t, m, 0, cs) // every path lock-free
			closed := make(chan error, 1)
			ran := onceAt(t, tc.site, func() {
				go func() { closed <- m.Close() }()
				for began := time.Now(); m.live.Load(); runtime.Gosched() {
					if time.Since(began) > time.Minute {
						t.Error("Close did not begin in a minute")
						return
					}
				}
			})
			got, err := tc.access(m, tc.off)
			if !ran() {
				t.Fatal("the access reached no race site: it did not take the lock-free path")
			}
			if err := <-closed; err != nil {
				t.Fatalf("Close during the access: %v", err)
			}
			t.Logf("%s during Close: %v", tc.name, err)
			n := 16
			if tc.site == siteAtomicLoad || tc.site == siteAtomicWrite {
				n = 8
			}
			var want []byte
			for o := tc.off; o < tc.off+int64(n); o++ {
				want = append(want, fill(o/cs))
			}
			switch {
			case err != nil && !errors.Is(err, ErrClosed):
				t.Fatalf("%s during Close: %v, want success or ErrClosed", tc.name, err)
			case !tc.write && err == nil && !bytes.Equal(got, want):
				t.Errorf("%s during Close = %q, want %q", tc.name, got, want)
			case tc.write && err == nil:
				want = word[:n]
			}
			r, err := Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p := make([]byte, n)
			if _, err := r.ReadAt(p, tc.off); err != nil || !bytes.Equal(p, want) {
				t.Errorf("after a reopen, ReadAt(%d) = %q, %v; want %q", tc.off, p, err, want)
			}
		})
	}
}

// TestInterleave_DroppedDuringStore drops the chunk a lock-free store has
// entered and checked, before the store, and gives its slot to a new chunk:
// in an arena of two slots, another goroutine calls DropBefore past chunk
// 0 and appends chunk 2, whose slot is chunk 0's. The store either lands
// in chunk 0's deleted file or fails; the slot must not go to chunk 2
// while the store is in it, and chunk 2 must hold only what was appended.
func TestInterleave_DroppedDuringStore(t *testing.T) {
	const cs = MinChunkSize
	word := []byte("0123456789abcdef")
	tests := []struct {
		name  string
		site  raceSite
		store func(m *Manager, off int64) error
	}{
		{"WriteAt", siteWrite1, func(m *Manager, off int64) error {
			_, err := m.WriteAt(word, off)
			return err
		}},
		{"StoreUint64", siteAtomicWrite, func(m *Manager, off int64) error {
			return m.StoreUint64(off, binary.NativeEndian.Uint64(word))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.Append(bytes.Repeat([]byte{'a'}, 2*cs)); err != nil {
				t.Fatal(err)
			}
			const off = 104
			dirtyChunks(t, m, off)
			moved := make(chan error, 1)
			ran := onceAt(t, tc.site, func() {
				go func() {
					err := m.DropBefore(cs)
					if err == nil {
						_, err = m.Append(bytes.Repeat([]byte{'c'}, cs))
					}
					if err == nil {
						// Appends write with pwrite: a read maps
						// chunk 2, in slot 0.
						_, err = m.ReadAt(make([]byte, 8), 2*cs)
					}
					moved <- err
				}()
				for began := time.Now(); m.slots[0].own.Load() == 1; runtime.Gosched() {
					if time.Since(began) > time.Minute {
						t.Error("DropBefore did not take chunk 0 in a minute")
						return
					}
				}
				for deadline := time.Now().Add(20 * time.Millisecond); time.Now().Before(deadline); runtime.Gosched() {
					if own := m.slots[0].own.Load(); own != 0 {
						t.Errorf("slot 0 went to chunk %d while a store to chunk 0 was in it", own-1)
						return
					}
				}
			})
			if err := tc.store(m, off); err != nil && !errors.Is(err, ErrOutOfRange) {
				t.Errorf("%s to a chunk dropped meanwhile: %v, want success or ErrOutOfRange", tc.name, err)
			}
			if !ran() {
				t.Fatal("the store reached no race site: it did not take the lock-free path")
			}
			if err := <-moved; err != nil {
				t.Fatal(err)
			}
			got := make([]byte, cs)
			if _, err := m.ReadAt(got, 2*cs); err != nil {
				t.Fatal(err)
			}
			if i := bytes.IndexFunc(got, func(r rune) bool { return r != 'c' }); i >= 0 {
				t.Errorf("chunk 2 at %d holds %q, want only the c's appended", 2*cs+int64(i), got[i:min(i+16, len(got))])
			}
		})
	}
}

// TestInterleave_ReadAcrossCutAndGrowth: a following reader's read has
// checked its slot and its writer's state page, and before it copies, the
// writer cuts the dataset below the read (Truncate) and grows it back with
// a write there, which zeroes the stale bytes first; the copy comes while
// those zeros are in place, before the write. The dataset never held zeros
// there (first a's, then b's), and a Truncate and a growth keep the chunk
// and its slot as they were: the reader must see that its writer's state
// page moved (pageStill). (The writer's own reads, which must see that its
// shrink epoch moved, are TestInterleave_CopyOfGrowthZeros.)
func TestInterleave_ReadAcrossCutAndGrowth(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Append(bytes.Repeat([]byte{'a'}, 2*cs)); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, &Options{ReadOnly: true, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const off, cut = cs + 100, cs + 50
	p := make([]byte, 16)
	if _, err := r.ReadAt(p, off); err != nil || p[0] != 'a' {
		t.Fatalf("first read = %q, %v", p, err)
	}
	zeroed, release := make(chan struct{}), make(chan struct{})
	letGo := sync.OnceFunc(func() { close(release) })
	written := make(chan error, 1)
	reached := hooksAt(t, map[raceSite]func(){
		siteRead1: func() {
			go func() {
				err := w.Truncate(cut)
				if err == nil {
					_, err = w.WriteAt(bytes.Repeat([]byte{'b'}, 16), off)
				}
				written <- err
			}()
			select {
			case <-zeroed:
			case <-time.After(time.Minute):
				t.Error("the writer's growth did not zero the stale bytes in a minute")
			}
		},
		siteStaleZeroed: func() {
			close(zeroed)
			<-release
		},
	})
	n, err := r.ReadAt(p, off)
	letGo()
	if got := reached(); !got[siteRead1] || !got[siteStaleZeroed] {
		t.Fatalf("race sites reached: %v; want the read's and the writer's growth's", got)
	}
	if err := <-written; err != nil {
		t.Fatalf("the writer's Truncate and WriteAt: %v", err)
	}
	if err == nil && !bytes.Equal(p, bytes.Repeat([]byte{'a'}, 16)) && !bytes.Equal(p, bytes.Repeat([]byte{'b'}, 16)) {
		t.Errorf("ReadAt across the writer's cut and growth = %d, %q, nil; the dataset held a's, then b's", n, p)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt across the writer's cut and growth: %v, want the bytes or io.EOF", err)
	}
	if _, err := r.ReadAt(p, off); err != nil || !bytes.Equal(p, bytes.Repeat([]byte{'b'}, 16)) {
		t.Errorf("read after the writer's write = %q, %v; want b's", p, err)
	}
}
