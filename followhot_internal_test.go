package chunkmap

import (
	"bytes"
	"testing"
)

// TestFollow_HotReadChecksThePage checks each check of a following reader's
// lock-free read (hotRead1 and hotReadSpan with the shared page, and
// hotAtomic's load) against the state of the page that must send it to
// followedRead's path: the page's epoch moved
// since the reader took it (a cut and its deletions, or a writer set the
// page up again), the page written over, and the Size a Truncate stores
// before it moves the epoch. The read stands only on the page the reader
// took; each other state is set in the page as the writer (or another
// program) would leave it for an instant, then put back.
func TestFollow_HotReadChecksThePage(t *testing.T) {
	w := openWriter(t, t.TempDir())
	cs := w.ChunkSize()
	r := followed(t, w, 2, 'A', nil)
	wantRead(t, r, cs+100, 100, 'A', "the first read, which takes the page")
	wantRead(t, r, 100, 100, 'A', "a read that maps chunk 0, for the span")
	pg := r.shared.p // mapped read-only: the writer's page is the same file's
	wp := w.shared.p
	off, n := cs+100, 100
	cases := []struct {
		name  string
		set   func() // leaves the page as the case needs
		undo  func()
		stand bool
	}{
		{"the page taken", func() {}, func() {}, true},
		{"epoch moved", func() { wp.epoch.Add(1) }, func() { wp.epoch.Add(^uint64(0)) }, false},
		{"magic written over", func() { wp.magic[0] ^= 0xff }, func() { wp.magic[0] ^= 0xff }, false},
		{"Size cut below the read, epoch not moved yet", func() { wp.size.Store(off + int64(n) - 1) }, func() { wp.size.Store(2 * cs) }, false},
		{"Size cut to the read's end", func() { wp.size.Store(off + int64(n)) }, func() { wp.size.Store(2 * cs) }, true},
	}
	// The word a LoadUint64 reads, and the span across chunks 0 and 1,
	// end where the read does.
	woff := off + int64(n) - 8
	soff, sn := cs-100, int(off+int64(n)-(cs-100))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make([]byte, n)
			c.set()
			ok := r.hotRead1(got, off, pg)
			c.undo()
			if ok != c.stand {
				t.Fatalf("hotRead1 with the page = %v, want %v", ok, c.stand)
			}
			if ok && !bytes.Equal(got, bytes.Repeat([]byte{'A'}, n)) {
				t.Fatalf("read %q, want 'A's", got)
			}
			span := make([]byte, sn)
			c.set()
			ok = r.hotReadSpan(span, soff, pg)
			c.undo()
			if ok != c.stand {
				t.Fatalf("hotReadSpan with the page = %v, want %v", ok, c.stand)
			}
			if ok && !bytes.Equal(span, bytes.Repeat([]byte{'A'}, sn)) {
				t.Fatalf("read %q, want 'A's", span)
			}
			c.set()
			x, _, ok, _ := r.hotAtomic(atomicLoad, 8, woff, 0, 0, pg)
			c.undo()
			if ok != c.stand {
				t.Fatalf("hotAtomic's load with the page = %v, want %v", ok, c.stand)
			}
			if ok && x != 0x4141414141414141 {
				t.Fatalf("load %#x, want 'A's", x)
			}
		})
	}
	wantRead(t, r, off, n, 'A', "after the page was put back")
}
