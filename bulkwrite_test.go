package chunkmap_test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestBulkWriteAcrossChunks writes ranges of many chunks (which go to the
// chunk files on several goroutines) at every alignment, within Size and
// extending it, and checks each byte against a model; then it fails the
// write of one chunk in the middle and checks that WriteAt reports the
// bytes before that chunk and an error naming it, and that those bytes are
// in the dataset.
func TestBulkWriteAcrossChunks(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	f := vfstest.NewFaulty(nil)
	m, _ := openOnFS(t, f)
	var model []byte
	fill := func(n int, v byte) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = v + byte(i*7)
		}
		return p
	}
	for i, w := range []struct {
		off int64
		n   int
	}{
		{0, 5*cs + 3},          // extends, from a boundary
		{cs / 2, 3 * cs},       // within Size, mid-chunk to mid-chunk
		{4*cs + 1, 4*cs - 1},   // extends, ending on a boundary
		{2 * cs, 2 * cs},       // within, boundary to boundary
		{10*cs + 9, 2*cs + 17}, // extends past a gap
	} {
		p := fill(w.n, byte(i+1))
		if n, err := m.WriteAt(p, w.off); err != nil || n != w.n {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", w.n, w.off, n, err)
		}
		if end := w.off + int64(w.n); end > int64(len(model)) {
			model = append(model, make([]byte, end-int64(len(model)))...)
		}
		copy(model[w.off:], p)
	}
	got := make([]byte, len(model))
	if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, model) {
		t.Fatalf("dataset differs from the model after bulk writes (%v)", err)
	}

	// Chunk 3's write fails: the bytes of chunks 1 and 2 are reported.
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, "0000000000000003.chunk"), Err: syscall.EIO})
	p := fill(5*cs, 99)
	off := int64(cs + 100)
	n, err := m.WriteAt(p, off)
	if want := 3*cs - int(off); n != want || !errors.Is(err, chunkmap.ErrIO) {
		t.Fatalf("WriteAt with chunk 3 failing = %d, %v; want %d and ErrIO", n, err, want)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("0000000000000003.chunk")) {
		t.Errorf("error %q does not name chunk 3's file", err)
	}
	got = make([]byte, n)
	if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, p[:n]) {
		t.Fatalf("the %d bytes reported written are not in the dataset (%v)", n, err)
	}
}
