package accessor_test

import (
	"fmt"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestAdversarialBatchStraddleErrorNamesValue proves that a Batch read or
// write of a value that straddles a chunk boundary and reaches past Size
// fails with ErrOutOfRange whose message names the value's own offset and
// length (the package documentation: every error "names the operation and
// the offset"), not those of the value's second half.
func TestAdversarialBatchStraddleErrorNamesValue(t *testing.T) {
	m := advOpen(t, t.TempDir(), nil)
	va := accessor.New(m, nil)
	m.WriteAt(make([]byte, advCS+1), 0) // Size 1 byte into chunk 1
	err := va.Batch(func(b *accessor.Batch) error {
		for _, ty := range advTypes {
			if ty.size < 4 {
				continue
			}
			off := int64(advCS - ty.size/2) // half in chunk 0, half in chunk 1, past Size
			_, err := ty.br(b, off)
			advIsErr(t, fmt.Sprintf("Batch.Read%s(%d)", ty.name, off), err, chunkmap.ErrOutOfRange,
				fmt.Sprintf("offset %d", off), fmt.Sprintf("%d bytes", ty.size))
			err = ty.bw(b, off, 1)
			advIsErr(t, fmt.Sprintf("Batch.Write%s(%d)", ty.name, off), err, chunkmap.ErrOutOfRange,
				fmt.Sprintf("offset %d", off), fmt.Sprintf("%d bytes", ty.size))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAdversarialZeroBatch proves that the typed calls of a zero
// accessor.Batch (one not passed by ViewAccessor.Batch) return an error
// matching ErrClosed, as a zero chunkmap.Batch does, instead of panicking.
func TestAdversarialZeroBatch(t *testing.T) {
	var zb accessor.Batch
	for _, ty := range advTypes {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("zero Batch.Read%s panicked: %v", ty.name, r)
				}
			}()
			_, err = ty.br(&zb, 0)
		}()
		advIsErr(t, "zero Batch.Read"+ty.name, err, chunkmap.ErrClosed)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("zero Batch.Write%s panicked: %v", ty.name, r)
				}
			}()
			err = ty.bw(&zb, 0, 1)
		}()
		advIsErr(t, "zero Batch.Write"+ty.name, err, chunkmap.ErrClosed)
	}
	var zc chunkmap.Batch
	if _, err := zc.Bytes(0, 1); err == nil {
		t.Errorf("zero chunkmap.Batch.Bytes: nil error (the contract the accessor should follow)")
	}
}

// TestAdversarialBulkErrorNamesCall proves that a bulk call refused because
// the Manager is closed, or because its offset is negative, names its own
// operation and length (read uint64s, 16 bytes) rather than an empty read
// or write of 0 bytes.
func TestAdversarialBulkErrorNamesCall(t *testing.T) {
	m := advOpen(t, t.TempDir(), nil)
	va := accessor.New(m, nil)
	m.WriteAt(make([]byte, 64), 0)
	err := va.ReadUint64s(-8, make([]uint64, 2))
	advIsErr(t, "ReadUint64s(-8)", err, chunkmap.ErrOutOfRange, "uint64s", "16 bytes")
	err = va.WriteUint32s(-8, make([]uint32, 4))
	advIsErr(t, "WriteUint32s(-8)", err, chunkmap.ErrOutOfRange, "uint32s", "16 bytes")
	m.Close()
	err = va.ReadUint64s(0, make([]uint64, 2))
	advIsErr(t, "ReadUint64s after Close", err, chunkmap.ErrClosed, "uint64s", "16 bytes")
	err = va.WriteUint64s(0, make([]uint64, 2))
	advIsErr(t, "WriteUint64s after Close", err, chunkmap.ErrClosed, "uint64s", "16 bytes")
}
