package chunkmap

import (
	"errors"
	"testing"
)

// TestFollowedRead_PageGoneIsClosed: a following reader's read during
// which its state page goes (on Windows its own Close unmaps it, and the
// page's loads count for nothing from then on: sharedPage.unmapped) is not
// accepted as it is. Its bytes may be a writer's cut and refill; without
// the page nothing says whether they are, and the read overlapped Close:
// ErrClosed. It was accepted with a nil error, as after a page that
// faults, which no writer can then be moving.
func TestFollowedRead_PageGoneIsClosed(t *testing.T) {
	w, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := followed(t, w, 2, 7, nil)
	if r.shared == nil || !r.follows.Load() {
		t.Fatal("the reader does not follow its writer")
	}
	defer r.shared.unmapped.Store(false) // Close does not unmap it here
	ok, err := r.followedRead("read", at(0, 8), func() (int64, error) {
		r.shared.unmapped.Store(true) // as Close on Windows, mid-read
		return 8, nil
	})
	if ok || !errors.Is(err, ErrClosed) {
		t.Errorf("followedRead with its page gone mid-read = %v, %v; want false and ErrClosed", ok, err)
	}
}
