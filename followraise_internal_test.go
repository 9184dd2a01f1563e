//go:build unix

package chunkmap

import (
	"bytes"
	"testing"
)

// TestFollow_RaiseNotTakenBack checks that a follower's lock-free raise of
// Size (raiseFollowed) that reported success is never taken back by a
// followLocked that loaded the page before it: a goroutine that appended
// through the writer and then read its bytes through the follower would
// find them past Size (io.EOF), as TestStormy_OwnedBytesReadBack once did
// under load. The raise runs where takePageLocked, having loaded the page
// of the same epoch or of a new one (after a Truncate), is about to store
// its Start and Size: the old code had stored the new epoch in seen by
// then, so the raise landed, and the exact store took it back.
func TestFollow_RaiseNotTakenBack(t *testing.T) {
	cases := []struct {
		name string
		cut  func(w *Manager, size int64) error // moves the epoch, if not nil
	}{
		{"same epoch", nil},
		{"truncate", func(w *Manager, size int64) error { return w.Truncate(size - 10) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openWriter(t, t.TempDir())
			r := followed(t, w, 4, 'A', nil)
			if err := r.pull(); err != nil {
				t.Fatal(err)
			}
			pull := r.pull
			if tc.cut == nil {
				// The exact pull that followedRead takes after a read
				// past the page's Size in the epoch it read under.
				pull = func() error { _, _, err := r.pullLocked(); return err }
			} else if err := tc.cut(w, w.Size()); err != nil {
				t.Fatal(err)
			}
			var (
				calls        int
				raised       bool
				off, raiseTo int64
			)
			takePageHook = func(stage int, _ *pageState) {
				if stage != takeStoring {
					return
				}
				if calls++; calls > 1 {
					return
				}
				var err error
				if off, err = w.Append(bytes.Repeat([]byte{'B'}, 100)); err != nil {
					t.Error(err)
					return
				}
				raiseTo = off + 100
				ps, ok := r.shared.load(r.boot)
				if !ok || ps.size != raiseTo {
					t.Errorf("page after the append: ok %v, size %d; want %d", ok, ps.size, raiseTo)
					return
				}
				_, raised = r.raiseFollowed(ps)
			}
			defer func() { takePageHook = nil }()
			if err := pull(); err != nil {
				t.Fatal(err)
			}
			if calls == 0 {
				t.Fatal("the pull after the cut did not take the page under the lock")
			}
			// The reader's own Size, as a read that raised it reads by
			// (Size() would pull again).
			if got := r.state().size.Load(); raised && got < raiseTo {
				t.Errorf("a raise of Size to %d that reported success was taken back to %d", raiseTo, got)
			}
			wantRead(t, r, off, 100, 'B', "the appended bytes")
		})
	}
}

// TestFollow_UnstablePageLetsGoOfReplacedChunks checks that a follower
// whose locked take of the state page loaded the epoch it took last, and
// then the Start and Size of a later one (the load is not stable: the
// writer cut a chunk off, deleting its file, and made it anew while the
// load ran), lets go of the chunk's old file before anything uses it.
// Otherwise the call that took the page (a Pin or a Batch, after follow)
// hands out the deleted file's bytes under a Size that covers the chunk
// made anew.
func TestFollow_UnstablePageLetsGoOfReplacedChunks(t *testing.T) {
	w := openWriter(t, t.TempDir())
	cs := w.ChunkSize()
	r := followed(t, w, 3, 'A', &Options{NoAdmission: true})
	wantRead(t, r, 2*cs, 100, 'A', "chunk 2 before the cut") // maps chunk 2
	old := r.seen.Load()
	if err := w.Truncate(2 * cs); err != nil { // deletes chunk 2's file
		t.Fatal(err)
	}
	if _, err := w.Append(bytes.Repeat([]byte{'C'}, int(cs))); err != nil { // makes it anew
		t.Fatal(err)
	}
	// The load as it runs beside the writer's cut: the epoch first, as
	// the reader took it last; Start and Size after the cut and growth.
	takePageHook = func(stage int, ps *pageState) {
		if stage == takeLoaded {
			ps.epoch, ps.stable = old, false
		}
	}
	r.mu.Lock()
	ps, followed, err := r.takePageLocked()
	r.mu.Unlock()
	takePageHook = nil
	if err != nil || !followed || ps.size != 3*cs {
		t.Fatalf("takePageLocked: followed %v, Size %d, %v; want true, %d, nil", followed, ps.size, err, 3*cs)
	}
	// What a Pin of chunk 2 that followed just now gets: the chunk's
	// slot, with no other pull.
	got := make([]byte, 100)
	if r.hotRead1(got, 2*cs, nil) && got[0] != 'C' {
		t.Errorf("after a page loaded as the epoch taken before, with Size %d of a later one, chunk 2 reads %q through the reader's mapping of the deleted file; the writer's chunk 2 holds 'C'",
			ps.size, got[0])
	}
	// And what ReadAt's lock-free path for a follower gets, which checks
	// the page's epoch against seen.
	if r.hotRead1(got, 2*cs, r.shared.p) && got[0] != 'C' {
		t.Errorf("a follower's lock-free read of chunk 2 reads %q through its mapping of the deleted file; the writer's chunk 2 holds 'C'", got[0])
	}
	if r.seen.Load() != old {
		t.Errorf("seen is %d after the unstable load; want %d, the epoch it named, so that the next pull takes the page again", r.seen.Load(), old)
	}
	wantRead(t, r, 2*cs, 100, 'C', "chunk 2 made anew")
}
