package chunkmap_test

import (
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBatch_SpanViewsBounded: on 32-bit platforms a Batch maps chunks it
// cannot hold in the arena in views of only part of them (span views,
// where whole chunks of 1 GiB would not fit), and it keeps each view it
// handed bytes out of until it ends. Reads page by page through a chunk
// whose slot the batch's own first chunk occupies (one slot of 1 GiB, the
// default on 32-bit) must not map a view per page: those mapped one each,
// past the system's limit of mappings (65,530 on Linux) within 256 MiB of
// reads, when every read failed with ErrIO. The values read must be the
// dataset's.
func TestBatch_SpanViewsBounded(t *testing.T) {
	if strconv.IntSize != 32 {
		t.Skip("span views are mapped on 32-bit platforms only")
	}
	const (
		cs    = 1 << 30
		pages = 4096 // 16 MiB of chunk 1, page by page
		page  = 4096
	)
	was := chunkmap.SetKeepHoles(true) // a tmpfs must not allocate the GiB
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	chunkmap.SetKeepHoles(was)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(cs + pages*page); err != nil {
		t.Fatal(err)
	}
	var w [8]byte
	for k := range int64(pages) {
		binary.LittleEndian.PutUint64(w[:], uint64(k+1))
		if _, err := m.WriteAt(w[:], cs+k*page+8); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		write    bool
		backward bool
	}{
		{"read forward", false, false},
		{"write forward", true, false},
		{"read backward", false, true},
	}
	for _, tt := range tests {
		write := tt.write
		err = m.Batch(func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(8, 8); err != nil { // chunk 0 takes the one slot
				return err
			}
			for i := range int64(pages) {
				k := i
				if tt.backward {
					k = pages - 1 - i
				}
				get := b.Bytes
				if write {
					get = b.WritableBytes
				}
				p, err := get(cs+k*page+8, 8)
				if err != nil {
					return err
				}
				if got := binary.LittleEndian.Uint64(p); got != uint64(k+1) {
					t.Fatalf("%s: page %d of chunk 1 reads %d, want %d", tt.name, k, got, k+1)
				}
			}
			// A view per doubling: 13 for the 16 MiB read.
			_, _, views := m.Mappings()
			t.Logf("%s: %d views", tt.name, views)
			if views > 16 {
				t.Errorf("%s: %d chunks mapped in views for %d pages of one chunk, want a few", tt.name, views, pages)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
}

// TestBatch_SpanViewEmptyRange: Bytes and Hold of 0 bytes hold the chunk
// of off and succeed (see Batch.Hold), also where that chunk is reached
// through a span view (32-bit): at an offset on a page boundary the span
// of the empty range was empty, and mapping it failed with ErrIO ("invalid
// range").
func TestBatch_SpanViewEmptyRange(t *testing.T) {
	if strconv.IntSize != 32 {
		t.Skip("span views are mapped on 32-bit platforms only")
	}
	const cs = 1 << 30
	was := chunkmap.SetKeepHoles(true)
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	chunkmap.SetKeepHoles(was)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(cs + 16<<20); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{cs, cs + 4096, cs + 4<<20, cs + 4<<20 + 100, cs + 8192} {
		err := m.Batch(func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(8, 8); err != nil { // chunk 0 takes the one slot
				return err
			}
			if p, err := b.Bytes(off, 0); err != nil || len(p) != 0 {
				t.Errorf("Bytes(%d, 0) = %d bytes, %v; want 0 bytes, nil", off, len(p), err)
			}
			if p, err := b.WritableBytes(off, 0); err != nil || len(p) != 0 {
				t.Errorf("WritableBytes(%d, 0) = %d bytes, %v; want 0 bytes, nil", off, len(p), err)
			}
			if err := b.Hold(off, 0); err != nil {
				t.Errorf("Hold(%d, 0) = %v", off, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
