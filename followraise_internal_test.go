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
// under load. The raise runs where followLocked has loaded the page of a
// new epoch, or of the same one, and not yet stored its Size.
func TestFollow_RaiseNotTakenBack(t *testing.T) {
	cases := []struct {
		name string
		cut  func(w *Manager, size int64) error // moves the epoch, if not nil
	}{
		{"same epoch", nil},
		{"truncate", func(w *Manager, size int64) error { return w.Truncate(size - 10) }},
		{"drop", func(w *Manager, size int64) error { return w.DropBefore(w.ChunkSize()) }},
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
			takePageHook = func() {
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
