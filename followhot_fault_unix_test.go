//go:build unix

package chunkmap

import (
	"errors"
	"os"
	"testing"
)

// TestFollow_HotFaultIsNoRead checks a following reader's lock-free read and
// atomic load of a mapped chunk whose file another program truncated: the
// access faults after the page checks passed, and must report that it read
// nothing (the call then returns ErrFault), never a value it did not read.
func TestFollow_HotFaultIsNoRead(t *testing.T) {
	w := openWriter(t, t.TempDir())
	cs := w.ChunkSize()
	r := followed(t, w, 2, 'A', nil)
	wantRead(t, r, cs+8, 8, 'A', "the first read, which maps chunk 1")
	if err := os.Truncate(r.chunkPath(1), 0); err != nil {
		t.Fatal(err)
	}
	if ok := r.hotRead1(make([]byte, 8), cs+8, r.shared.p); ok {
		t.Errorf("hotRead1 of a truncated chunk's bytes reported a read")
	}
	if x, _, ok, _ := r.hotAtomic(atomicLoad, 8, cs+8, 0, 0, r.shared.p); ok {
		t.Errorf("hotAtomic's load of a truncated chunk's word reported %#x", x)
	}
	if _, err := r.ReadAt(make([]byte, 8), cs+8); !errors.Is(err, ErrFault) {
		t.Errorf("ReadAt of a truncated chunk = %v, want ErrFault", err)
	}
	if x, err := r.LoadUint64(cs + 8); !errors.Is(err, ErrFault) {
		t.Errorf("LoadUint64 of a truncated chunk = %#x, %v; want ErrFault", x, err)
	}
}
