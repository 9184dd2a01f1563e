//go:build chunkmap_interleave

package chunkmap

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

// onceAt makes fn run at the first race site of kind site that a
// lock-free access reaches from now on, until the test ends.
func onceAt(t *testing.T, site raceSite, fn func()) (ran func() bool) {
	t.Helper()
	var done atomic.Bool
	hook := func(at raceSite) {
		if at == site && done.CompareAndSwap(false, true) {
			fn()
		}
	}
	raceHook.Store(&hook)
	t.Cleanup(func() { raceHook.Store(nil) })
	return done.Load
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
