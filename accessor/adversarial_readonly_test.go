package accessor_test

import (
	"encoding/binary"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// advSliceOrder is a byte order of a non-comparable type (big endian).
type advSliceOrder []int

func (advSliceOrder) Uint16(b []byte) uint16       { return binary.BigEndian.Uint16(b) }
func (advSliceOrder) Uint32(b []byte) uint32       { return binary.BigEndian.Uint32(b) }
func (advSliceOrder) Uint64(b []byte) uint64       { return binary.BigEndian.Uint64(b) }
func (advSliceOrder) PutUint16(b []byte, x uint16) { binary.BigEndian.PutUint16(b, x) }
func (advSliceOrder) PutUint32(b []byte, x uint32) { binary.BigEndian.PutUint32(b, x) }
func (advSliceOrder) PutUint64(b []byte, x uint64) { binary.BigEndian.PutUint64(b, x) }
func (advSliceOrder) String() string               { return "advSliceOrder" }

// TestAdversarialReadOnly proves that on a read-only Manager following a
// writer every kind of accessor write (typed, bulk, scatter, Batch) fails
// with ErrReadOnly and changes nothing, while reads, gathers, scans and a
// read-only Slice see the writer's bytes; and that an accessor built with a
// byte order of a non-comparable type works (New must not panic).
func TestAdversarialReadOnly(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, nil)
	var order binary.ByteOrder = advSliceOrder{1}
	va := accessor.New(m, order)
	md := &advModel{}
	if err := va.WriteUint64s(advCS-16, []uint64{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	for i, x := range []uint64{1, 2, 3, 4} {
		md.put(advCS-16+int64(8*i), advEncode(binary.BigEndian, 8, x))
	}
	ro := advOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	vr := accessor.New(ro, order)
	advIsErr(t, "WriteUint64", vr.WriteUint64(0, 1), chunkmap.ErrReadOnly)
	advIsErr(t, "WriteUint64 past Size", vr.WriteUint64(advCS+16, 1), chunkmap.ErrReadOnly)
	advIsErr(t, "WriteUint16s", vr.WriteUint16s(8, []uint16{1, 2}), chunkmap.ErrReadOnly)
	advIsErr(t, "WriteUint64sAt", vr.WriteUint64sAt([]int64{0, advCS - 4}, []uint64{1, 2}), chunkmap.ErrReadOnly)
	_, err := vr.WriteAt([]byte{1}, 0)
	advIsErr(t, "WriteAt", err, chunkmap.ErrReadOnly)
	err = vr.Batch(func(b *accessor.Batch) error {
		advIsErr(t, "Batch.WriteUint64", b.WriteUint64(advCS-4, 9), chunkmap.ErrReadOnly)
		if x, err := b.ReadUint64(advCS - 8); err != nil || x != 2 {
			t.Errorf("Batch.ReadUint64 = %d, %v; want 2", x, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]uint64, 2)
	if err := vr.ReadUint64sAt([]int64{advCS - 16, advCS + 8}, dst); err != nil || dst[0] != 1 || dst[1] != 4 {
		t.Errorf("ReadUint64sAt = %v, %v", dst, err)
	}
	s := vr.Scan()
	var got []uint64
	for _, x := range s.Uint64s(advCS-16, 4) {
		got = append(got, x)
	}
	if s.Err() != nil || len(got) != 4 || got[3] != 4 {
		t.Errorf("scan = %v, %v", got, s.Err())
	}
	w, err := vr.Slice(advCS-16, 32)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint64(w.Bytes()[8:]) != 2 {
		t.Error("read-only view differs")
	}
	w.Release()
	advPinned(t, ro, "read-only")
	advCheck(t, ro, md, "read-only")
	// The writer extends; the reader follows.
	if err := va.WriteUint32(advCS+100, 0xfeedface); err != nil {
		t.Fatal(err)
	}
	if x, err := vr.ReadUint32(advCS + 100); err != nil || x != 0xfeedface {
		t.Errorf("follower ReadUint32 = %#x, %v", x, err)
	}
}

// TestAdversarialBlockBodyTruncatesOwnChunk proves that a block scan's loop
// body may truncate the dataset below the block it holds and still read
// that whole block without a fault (the chunk stays held), after which the
// scan ends with ErrOutOfRange and nothing stays held.
func TestAdversarialBlockBodyTruncatesOwnChunk(t *testing.T) {
	m := advOpen(t, t.TempDir(), &chunkmap.Options{MaxMapped: 1})
	va := accessor.New(m, nil)
	p := advPattern(3*advCS, 0x44)
	m.WriteAt(p, 0)
	s := va.Scan()
	k := 0
	for off, b := range s.Blocks(advCS, 2*advCS) {
		if err := m.Truncate(advCS / 2); err != nil {
			t.Fatal(err)
		}
		// Touch other memory to invite an eviction.
		m.WriteAt([]byte{1}, 10)
		var sum byte
		for i := range b {
			sum ^= b[i]
			if b[i] != p[off+int64(i)] {
				t.Fatalf("block byte %d changed under the body", off+int64(i))
			}
		}
		_ = sum
		k++
	}
	if k != 1 {
		t.Errorf("yielded %d blocks, want 1", k)
	}
	advIsErr(t, "Err", s.Err(), chunkmap.ErrOutOfRange, "scan blocks")
	advPinned(t, m, "after the scan")
}

// TestAdversarialReadOnlyScatterShortSrc proves that a scatter given fewer
// values than offsets on a read-only Manager fails with ErrReadOnly, as
// every other write there does whatever its arguments (and as a closed
// Manager's ErrClosed comes before the count), not with the count's
// ErrOutOfRange: the call could never have written.
func TestAdversarialReadOnlyScatterShortSrc(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, nil)
	if err := m.Truncate(2 * advCS); err != nil {
		t.Fatal(err)
	}
	ro := advOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	for _, o := range advOrders {
		vr := accessor.New(ro, o.order)
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"WriteUint64sAt", func() error { return vr.WriteUint64sAt([]int64{0, advCS - 4}, []uint64{1}) }},
			{"WriteUint32sAt", func() error { return vr.WriteUint32sAt([]int64{8, advCS - 2, 16}, nil) }},
		} {
			advIsErr(t, o.name+" "+tc.name+" with fewer values than offsets", tc.do(), chunkmap.ErrReadOnly, "scatter", "at offset")
		}
	}
}
