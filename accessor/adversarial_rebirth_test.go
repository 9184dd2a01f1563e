package accessor_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// advPattern returns n bytes of a pattern seeded by s.
func advPattern(n int, s byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ s
	}
	return p
}

// TestAdversarialViewOfDeletedChunk proves that a View held over a chunk
// that Truncate deletes and a later write creates again does not alias the
// new chunk: the accessor's typed reads, bulk reads, gathers, batches and
// scans see the new bytes, stores through the stale View do not reach the
// new chunk, and the dataset matches the model after Release, Close and
// reopen.
func TestAdversarialViewOfDeletedChunk(t *testing.T) {
	for _, maxMapped := range []int{1, 16} {
		t.Run(fmt.Sprint("maxmapped=", maxMapped), func(t *testing.T) {
			dir := t.TempDir()
			m := advOpen(t, dir, &chunkmap.Options{MaxMapped: maxMapped, NoAdmission: true})
			va := accessor.New(m, nil)
			md := &advModel{}
			a := advPattern(3*advCS, 0x11)
			m.WriteAt(a, 0)
			md.put(0, a)
			w, err := va.Slice(2*advCS, advCS) // chunk 2, which Truncate deletes
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Truncate(advCS + 3); err != nil {
				t.Fatal(err)
			}
			md.truncate(advCS + 3)
			b := advPattern(2*advCS, 0x22)
			if _, err := va.WriteAt(b, advCS+advCS/2); err != nil {
				t.Fatal(err)
			}
			md.put(advCS+advCS/2, b)
			// Store through the stale view: must not reach the new chunk.
			for i := range w.Bytes() {
				w.Bytes()[i] = 0xab
			}
			advCheck(t, m, md, "with the stale view held")
			for _, off := range []int64{2*advCS - 8, 2*advCS - 4, 2 * advCS, 2*advCS + 100} {
				got, err := va.ReadUint64(off)
				if want := binary.LittleEndian.Uint64(md.b[off:]); err != nil || got != want {
					t.Errorf("ReadUint64(%d) = %#x, %v; model %#x", off, got, err, want)
				}
			}
			dst := make([]uint64, 3)
			offs := []int64{2*advCS - 4, 2*advCS + 8, 2*advCS + 16}
			if err := va.ReadUint64sAt(offs, dst); err != nil {
				t.Fatal(err)
			}
			for i, off := range offs {
				if want := binary.LittleEndian.Uint64(md.b[off:]); dst[i] != want {
					t.Errorf("ReadUint64sAt at %d = %#x, model %#x", off, dst[i], want)
				}
			}
			err = va.Batch(func(bt *accessor.Batch) error {
				for _, off := range offs {
					got, err := bt.ReadUint64(off)
					if want := binary.LittleEndian.Uint64(md.b[off:]); err != nil || got != want {
						t.Errorf("Batch.ReadUint64(%d) = %#x, %v; model %#x", off, got, err, want)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			s := va.Scan()
			for off, blk := range s.Blocks(2*advCS, advCS) {
				if !bytes.Equal(blk, md.b[off:off+int64(len(blk))]) {
					t.Errorf("block at %d differs from the model", off)
				}
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			w.Release()
			advPinned(t, m, "after Release")
			advCheck(t, m, md, "after Release")
			advReopen(t, m, dir, md)
		})
	}
}

// TestAdversarialArenaWrap proves that values, views, batches and gathers
// across the boundary between the last and first slot of the arena (chunk
// 63 and 64 of a 64-slot arena, which are not adjacent in memory) read and
// write the right bytes, and that stores through such a View reach the
// dataset and survive Close and reopen.
func TestAdversarialArenaWrap(t *testing.T) {
	const slots = 64
	dir := t.TempDir()
	m := advOpen(t, dir, &chunkmap.Options{ArenaSize: slots * advCS, MaxMapped: 4})
	va := accessor.New(m, binary.BigEndian)
	md := &advModel{}
	p := advPattern((slots+2)*advCS, 0x33)
	if _, err := m.WriteAt(p, 0); err != nil {
		t.Fatal(err)
	}
	md.put(0, p)
	edge := int64(slots * advCS)
	for d := int64(-7); d <= 0; d++ {
		x := uint64(0x0102030405060708) * uint64(8-d)
		if err := va.WriteUint64(edge+d, x); err != nil {
			t.Fatal(err)
		}
		md.put(edge+d, advEncode(binary.BigEndian, 8, x))
		if got, err := va.ReadUint64(edge + d); err != nil || got != x {
			t.Fatalf("ReadUint64(%d) = %#x, %v; want %#x", edge+d, got, err, x)
		}
	}
	w, err := va.Slice(edge-100, 200)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), md.b[edge-100:edge+100]) {
		t.Fatal("View across the arena's end differs from the model")
	}
	for i := range w.Bytes() {
		w.Bytes()[i] = byte(i) ^ 0x77
		md.b[edge-100+int64(i)] = byte(i) ^ 0x77
	}
	// Also hold chunk 0, which shares slot 0 with chunk 64.
	w0, err := va.Slice(0, 16)
	if err != nil {
		t.Fatal(err)
	}
	w.Release()
	w0.Release()
	advCheck(t, m, md, "after the wrapping view")
	offs := []int64{edge - 3, edge - 8, edge, 5, edge + 5, edge - 1}
	src := []uint64{1, 2, 3, 4, 5, 6}
	if err := va.WriteUint64sAt(offs, src); err != nil {
		t.Fatal(err)
	}
	for i, off := range offs {
		md.put(off, advEncode(binary.BigEndian, 8, src[i]))
	}
	dst := make([]uint64, len(offs))
	if err := va.ReadUint64sAt(offs, dst); err != nil {
		t.Fatal(err)
	}
	for i, off := range offs {
		if want := binary.BigEndian.Uint64(md.b[off:]); dst[i] != want {
			t.Errorf("ReadUint64sAt at %d = %#x, model %#x", off, dst[i], want)
		}
	}
	err = va.Batch(func(b *accessor.Batch) error {
		if _, err := b.ReadUint8(3); err != nil { // hold chunk 0 first
			return err
		}
		if err := b.WriteUint64(edge-2, 0xa1a2a3a4a5a6a7a8); err != nil {
			return err
		}
		md.put(edge-2, advEncode(binary.BigEndian, 8, 0xa1a2a3a4a5a6a7a8))
		got, err := b.ReadUint64(edge - 2)
		if err != nil || got != 0xa1a2a3a4a5a6a7a8 {
			return fmt.Errorf("Batch.ReadUint64 across the arena's end = %#x, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	advPinned(t, m, "at the end")
	advCheck(t, m, md, "at the end")
	advReopen(t, m, dir, md)
}
