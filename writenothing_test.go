package chunkmap_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestWriteAt_RefusedWriteLeavesNoByte races a WriteAt across a chunk
// boundary (and an Append) with the Close or DropBefore that makes it
// fail, and reads the bytes back: WriteAt's doc says a write that returns
// ErrClosed or ErrOutOfRange "has written nothing", so its range must hold
// the zeros it held before, not the piece of one chunk it reached before
// it noticed; one that returns nil must be whole; an Append refused by
// Close must leave Size as it was. TestWriteAtAcrossChunksIsWholeAgainstShrinks
// checks n only, not the bytes.
func TestWriteAt_RefusedWriteLeavesNoByte(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuse  func(m *chunkmap.Manager) error
		wantErr error
	}{
		{"Close", (*chunkmap.Manager).Close, chunkmap.ErrClosed},
		{"DropBefore", func(m *chunkmap.Manager) error { return m.DropBefore(cs) }, chunkmap.ErrOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := 0
			for i := range 16 {
				for _, size := range []int{20, 2 * cs} { // through the mapping, with pwrite
					dir := t.TempDir()
					m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: i%2 == 0})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := m.WriteAt(make([]byte, 4*cs), 0); err != nil {
						t.Fatal(err)
					}
					p := bytes.Repeat([]byte{0xAB}, size)
					off := cs - int64(size/2)
					var wg sync.WaitGroup
					var werr, aerr, rerr error
					wg.Go(func() { _, werr = m.WriteAt(p, off) })
					if tc.name == "Close" {
						wg.Go(func() { _, aerr = m.Append(p) })
					}
					wg.Go(func() { rerr = tc.refuse(m) })
					wg.Wait()
					if rerr != nil {
						t.Fatalf("%s: %v", tc.name, rerr)
					}
					if tc.name == "Close" {
						if m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true}); err != nil {
							t.Fatal(err)
						}
					}
					// Both pieces after Close; after DropBefore(cs) only
					// chunk 1's is left to look at.
					from, want := off, p
					if tc.name == "DropBefore" {
						from, want = cs, p[size/2:]
					}
					got := readAt(t, m, from, len(want))
					switch {
					case werr == nil:
						if !bytes.Equal(got, want) {
							t.Fatalf("round %d, %d bytes: WriteAt returned nil, but offset %d holds %#x", i, size, from+int64(firstDiff(got, want)), got[firstDiff(got, want)])
						}
					case errors.Is(werr, tc.wantErr):
						refused++
						if j := bytes.IndexByte(got, 0xAB); j >= 0 {
							t.Fatalf("round %d, %d bytes: WriteAt returned %v, but wrote offset %d", i, size, werr, from+int64(j))
						}
					default:
						t.Fatalf("WriteAt racing %s: %v", tc.name, werr)
					}
					switch {
					case tc.name != "Close":
					case aerr == nil:
						if m.Size() != 4*cs+int64(size) {
							t.Fatalf("Append returned nil, Size %d after reopen", m.Size())
						}
					case errors.Is(aerr, chunkmap.ErrClosed):
						if m.Size() != 4*cs {
							t.Fatalf("Append returned %v, Size %d after reopen, want %d", aerr, m.Size(), 4*cs)
						}
					default:
						t.Fatalf("Append racing Close: %v", aerr)
					}
					if err := m.Close(); err != nil && !errors.Is(err, chunkmap.ErrClosed) {
						t.Fatal(err)
					}
				}
			}
			t.Logf("%d of 32 writes refused", refused)
		})
	}
}
