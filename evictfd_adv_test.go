//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// evictedChunk1 opens a writer of two 64 KiB chunks ('a' and 'b') with
// MaxMapped 1, and with ro a follower of it with MaxMapped 1, and has the
// Manager returned (writer or follower) map chunk 1 and then evict it for
// chunk 0: chunk 1's file then sits in its descriptor cache.
func evictedChunk1(t *testing.T, ro bool) (m *chunkmap.Manager, dir string) {
	t.Helper()
	dir = t.TempDir()
	cs := int64(chunkmap.MinChunkSize)
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for i, c := range []byte{'a', 'b'} {
		if _, err := w.WriteAt(bytes.Repeat([]byte{c}, int(cs)), int64(i)*cs); err != nil {
			t.Fatal(err)
		}
	}
	m = w
	if ro {
		if m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1, NoAdmission: true}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
	}
	buf := make([]byte, 8)
	for _, off := range []int64{cs, 0} { // map chunk 1, then evict it
		if _, err := m.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if ev := m.Stats().Evictions; ev < 1 {
		t.Fatalf("chunk 1 not evicted (%d evictions)", ev)
	}
	return m, dir
}

// TestEvictAdv_CutInPlaceWhileEvicted checks that a chunk file another
// program truncated or extended in place (the same file, of another size)
// while its chunk was evicted is reported as a fault when the chunk is
// mapped again, as when the chunk is opened by name (chunk.Open checks the
// size): the file kept open at the eviction must not be mapped unchecked.
// A Pin of a short file would hand out bytes that raise SIGBUS when
// touched, and a longer file would be used as if nothing had happened.
func TestEvictAdv_CutInPlaceWhileEvicted(t *testing.T) {
	cs := int64(chunkmap.MinChunkSize)
	cases := []struct {
		name string
		size int64 // chunk 1's file's new size
		op   string
	}{
		{"truncated to 0/pin", 0, "pin"},
		{"truncated to half/pin", cs / 2, "pin"},
		{"extended/pin", 2 * cs, "pin"},
		{"extended/read", 2 * cs, "read"},
	}
	for _, ro := range []bool{false, true} {
		for _, tc := range cases {
			name := "writer/" + tc.name
			if ro {
				name = "follower/" + tc.name
			}
			t.Run(name, func(t *testing.T) {
				m, dir := evictedChunk1(t, ro)
				if err := os.Truncate(filepath.Join(dir, chunk.Name(1)), tc.size); err != nil { // another program
					t.Fatal(err)
				}
				var err error
				switch tc.op {
				case "pin":
					var p *chunkmap.Pinned
					if p, err = m.Pin(8, 8); err == nil { // chunk 0 stays fine
						p.Release()
					} else {
						t.Fatalf("pin of chunk 0: %v", err)
					}
					// Not touched: a short file's bytes would fault.
					if p, err = m.Pin(cs+8, 8); err == nil {
						p.Release()
					}
				case "read":
					_, err = m.ReadAt(make([]byte, 8), cs+8)
				}
				if !errors.Is(err, chunkmap.ErrFault) {
					t.Errorf("%s of chunk 1 whose file is %d bytes now: err = %v, want ErrFault", tc.op, tc.size, err)
				}
			})
		}
	}
}
