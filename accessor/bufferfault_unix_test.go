//go:build unix

package accessor_test

import (
	"encoding/binary"
	"errors"
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
		}{
			{"WriteUint64s", func() error { return va.WriteUint64s(8, bad[:16]) }},
			{"WriteUint64s/pieces", func() error { return va.WriteUint64s(8, bad) }},
			{"ReadUint64sAt", func() error { return va.ReadUint64sAt(offs, bad) }},
			{"WriteUint64sAt", func() error { return va.WriteUint64sAt(offs, bad) }},
		} {
			t.Run(o.name+"/"+c.name, func(t *testing.T) {
				err := c.call()
				if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EFAULT) {
					t.Fatalf("got %v; want ErrIO matching EFAULT", err)
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
