//go:build unix

package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/faulttest"
)

// TestBufferFaultInEveryOrder passes the bulk and gather calls a slice of
// values that faults, in each byte order. The native order hands it to
// WriteAt, Gather and Scatter, which report ErrIO matching EFAULT (as the
// root package's TestBufferFault checks); another order copies the values
// through a buffer of its own, and must report the same, not kill the
// process in that copy (SIGBUS, "unexpected fault address").
func TestBufferFaultInEveryOrder(t *testing.T) {
	m := advOpen(t, t.TempDir(), &chunkmap.Options{MaxMapped: 4})
	if _, err := m.WriteAt(make([]byte, 3*advCS), 0); err != nil {
		t.Fatal(err)
	}
	b := faulttest.Buffer(t, 8*1024)
	bad := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), 1024)
	offs := []int64{0, 8, advCS, 2 * advCS}
	for _, o := range []struct {
		name  string
		order binary.ByteOrder
	}{{"native", binary.NativeEndian}, {"big", binary.BigEndian}, {"custom", customOrder{}}} {
		va := accessor.New(m, o.order)
		for _, c := range []struct {
			name string
			call func() error
			// place is how the error of a gather or scatter call
			// names it, in an order whose values go through the
			// accessor's buffer: by the call and its offsets, then
			// the values whose copy faulted.
			place string
		}{
			{"WriteUint64s", func() error { return va.WriteUint64s(8, bad[:16]) }, ""},
			{"WriteUint64s/pieces", func() error { return va.WriteUint64s(8, bad) }, ""},
			{"ReadUint64sAt", func() error { return va.ReadUint64sAt(offs, bad) }, "read uint64s at 4 offsets (values 0 to 3, from offset 0) in "},
			{"WriteUint64sAt", func() error { return va.WriteUint64sAt(offs, bad) }, "write uint64s at 4 offsets (values 0 to 3, from offset 0) in "},
			// The block's gather fails (its last value is past Size),
			// and so the values are gathered one at a time: the first
			// one's copy faults.
			{"ReadUint64sAt/one by one", func() error { return va.ReadUint64sAt([]int64{advCS, 8, 9 * advCS}, bad) },
				"read uint64s at 3 offsets (value 0, 8 bytes at offset 65536) in "},
		} {
			t.Run(o.name+"/"+c.name, func(t *testing.T) {
				err := c.call()
				if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EFAULT) {
					t.Fatalf("got %v; want ErrIO matching EFAULT", err)
				}
				if c.place != "" && o.name != "native" && !strings.HasPrefix(err.Error(), c.place) {
					t.Errorf("got %q; want it to begin %q", err, c.place)
				}
			})
		}
	}
}

// customOrder is big endian through an implementation of its own, which
// the accessor calls as it would a caller's.
type customOrder struct{}

func (customOrder) Uint16(b []byte) uint16       { return binary.BigEndian.Uint16(b) }
func (customOrder) Uint32(b []byte) uint32       { return binary.BigEndian.Uint32(b) }
func (customOrder) Uint64(b []byte) uint64       { return binary.BigEndian.Uint64(b) }
func (customOrder) PutUint16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func (customOrder) PutUint32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
func (customOrder) PutUint64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }
func (customOrder) String() string               { return "customOrder" }

// TestOffsetsFaultInEveryOrder passes the gather and scatter calls offsets
// in memory that faults (a mapping of a file that another program cut),
// all of it or all but a first page of valid offsets. Reading the offsets
// is reading the caller's buffer: the call must return ErrIO matching
// EFAULT, as for faulting values, not kill the process with SIGBUS. A
// closed Manager, and a read-only one asked to scatter, report ErrClosed
// and ErrReadOnly as for any offsets. The hot passes read the offsets
// under their fault guard; the slow path, the error names and a following
// reader's epoch spans read them outside it.
func TestOffsetsFaultInEveryOrder(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, &chunkmap.Options{MaxMapped: 4})
	if _, err := m.WriteAt(make([]byte, 3*advCS), 0); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	closed, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: advCS})
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	const nOffs = 1024
	asOffs := func(b []byte) []int64 { return unsafe.Slice((*int64)(unsafe.Pointer(&b[0])), len(b)/8) }
	offsets := []struct {
		name string
		offs []int64
	}{
		{"all", asOffs(faulttest.Buffer(t, 8*nOffs))},
		{"after512", asOffs(faulttest.PartlyFaulting(t, 8*nOffs, 4096))}, // 512 offsets of 0, then a fault
	}
	u64, u32 := make([]uint64, nOffs), make([]uint32, nOffs)
	for _, of := range offsets {
		offs := of.offs
		for _, o := range []struct {
			name  string
			order binary.ByteOrder
		}{{"native", binary.NativeEndian}, {"big", binary.BigEndian}, {"custom", customOrder{}}} {
			va, rva := accessor.New(m, o.order), accessor.New(r, o.order)
			for _, c := range []struct {
				name string
				call func() error
			}{
				{"ReadUint64sAt", func() error { return va.ReadUint64sAt(offs, u64) }},
				{"WriteUint64sAt", func() error { return va.WriteUint64sAt(offs, u64) }},
				{"ReadUint32sAt", func() error { return va.ReadUint32sAt(offs, u32) }},
				{"WriteUint32sAt", func() error { return va.WriteUint32sAt(offs, u32) }},
				{"reader's ReadUint64sAt", func() error { return rva.ReadUint64sAt(offs, u64) }},
			} {
				t.Run(of.name+"/"+o.name+"/"+c.name, func(t *testing.T) {
					err := c.call()
					if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EFAULT) || errors.Is(err, chunkmap.ErrFault) {
						t.Fatalf("got %v; want ErrIO matching EFAULT, not ErrFault", err)
					}
				})
			}
		}
		for _, c := range []struct {
			name string
			call func() error
			want error
		}{
			{"Gather", func() error { return m.Gather(make([]byte, 8*nOffs), offs, 8) }, syscall.EFAULT},
			{"Scatter", func() error { return m.Scatter(make([]byte, 8*nOffs), offs, 8) }, syscall.EFAULT},
			{"reader's Gather", func() error { return r.Gather(make([]byte, 8*nOffs), offs, 8) }, syscall.EFAULT},
			{"reader's Scatter", func() error { return r.Scatter(make([]byte, 8*nOffs), offs, 8) }, chunkmap.ErrReadOnly},
			{"closed Gather", func() error { return closed.Gather(make([]byte, 8*nOffs), offs, 8) }, chunkmap.ErrClosed},
			{"closed Scatter", func() error { return closed.Scatter(make([]byte, 8*nOffs), offs, 8) }, chunkmap.ErrClosed},
			{"closed ReadUint64sAt", func() error { return accessor.New(closed, nil).ReadUint64sAt(offs, u64[:1]) }, chunkmap.ErrClosed},
		} {
			t.Run(of.name+"/"+c.name, func(t *testing.T) {
				if err := c.call(); !errors.Is(err, c.want) || errors.Is(err, chunkmap.ErrFault) {
					t.Fatalf("got %v; want an error matching %v, not ErrFault", err, c.want)
				}
			})
		}
	}
	got := make([]byte, 3*advCS)
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatalf("ReadAt after the faults: %v", err)
	}
	if !bytes.Equal(got, make([]byte, 3*advCS)) {
		t.Error("the dataset changed: the scatters stored only zeros at offset 0")
	}
}

// TestBufferAndOffsetsFault passes a scatter call, in a byte order not the
// machine's, values and offsets that both fault. The values are copied
// into the call's buffer first, and that copy faults; the error then names
// the first offset of the values, which must be read under a fault guard
// as well, or the process dies of SIGBUS in the naming of the error.
func TestBufferAndOffsetsFault(t *testing.T) {
	m := advOpen(t, t.TempDir(), &chunkmap.Options{MaxMapped: 4})
	if _, err := m.WriteAt(make([]byte, advCS), 0); err != nil {
		t.Fatal(err)
	}
	b, o := faulttest.Buffer(t, 8*16), faulttest.Buffer(t, 8*16)
	bad := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), 16)
	offs := unsafe.Slice((*int64)(unsafe.Pointer(&o[0])), 16)
	for _, order := range []binary.ByteOrder{binary.NativeEndian, binary.BigEndian, customOrder{}} {
		err := accessor.New(m, order).WriteUint64sAt(offs, bad)
		if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EFAULT) {
			t.Errorf("%v: got %v; want ErrIO matching EFAULT", order, err)
		}
		// The machine's order hands both to Scatter, which reads the
		// offsets first, and names its own call.
		if want := "write uint64s at 16 offsets (values 0 to 15) in "; order != binary.NativeEndian && err != nil && !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%v: got %q; want it to begin %q", order, err, want)
		}
	}
}
