package accessor_test

import (
	"fmt"
	"strings"
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
// matching ErrClosed, as a zero chunkmap.Batch does, instead of panicking,
// named as the typed call ("batch read uint64 (8 bytes) at offset 0", as a
// live Batch names it) and pointing at ViewAccessor.Batch, not at the
// Manager.Batch that a zero chunkmap.Batch's error points at.
func TestAdversarialZeroBatch(t *testing.T) {
	var zb accessor.Batch
	named := func(what string, err error, words ...string) {
		t.Helper()
		advIsErr(t, what, err, chunkmap.ErrClosed, append(words, "use the one ViewAccessor.Batch passes")...)
		if err != nil && strings.Contains(err.Error(), "Manager.Batch") {
			t.Errorf("%s: %q points at Manager.Batch", what, err)
		}
	}
	named("zero Batch.Hold", zb.Hold(8, 16), "hold", "at offset 8")
	named("zero Batch.HoldWritable", zb.HoldWritable(8, 16), "hold", "at offset 8")
	for _, ty := range advTypes {
		typ := strings.ToLower(ty.name)
		unit := "bytes"
		if ty.size == 1 {
			unit = "byte"
		}
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("zero Batch.Read%s panicked: %v", ty.name, r)
				}
			}()
			_, err = ty.br(&zb, 0)
		}()
		named("zero Batch.Read"+ty.name, err, fmt.Sprintf("batch read %s (%d %s) at offset 0", typ, ty.size, unit))
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("zero Batch.Write%s panicked: %v", ty.name, r)
				}
			}()
			err = ty.bw(&zb, 0, 1)
		}()
		named("zero Batch.Write"+ty.name, err, fmt.Sprintf("batch write %s (%d %s) at offset 0", typ, ty.size, unit))
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

// TestAdversarialBatchErrorNamesType proves that every refused typed call
// of a Batch (past Size, straddling a chunk boundary past Size, negative,
// below Start, a write on a read-only Manager, any call after Close) names
// its own operation, the value's type, its length and its offset once, as
// the ViewAccessor's typed calls do ("batch read uint64 (8 bytes) at
// offset 12"), and not as the chunkmap.Batch call underneath, which names
// neither the type nor, for half a straddling value, the value's extent.
func TestAdversarialBatchErrorNamesType(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, nil)
	if _, err := m.WriteAt(make([]byte, 3*advCS), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(advCS); err != nil {
		t.Fatal(err)
	}
	ro := advOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	check := func(what string, err, sentinel error, op string, size int, off int64) {
		t.Helper()
		unit := "bytes"
		if size == 1 {
			unit = "byte"
		}
		extent := fmt.Sprintf("%s (%d %s) at offset %d", op, size, unit, off)
		advIsErr(t, what, err, sentinel, extent)
		if err != nil && strings.Count(err.Error(), "at offset") != 1 {
			t.Errorf("%s: %q names more than one place", what, err)
		}
	}
	for _, o := range advOrders {
		va, vro := accessor.New(m, o.order), accessor.New(ro, o.order)
		for _, ty := range advTypes {
			name := strings.ToLower(ty.name)
			offs := []int64{
				3*advCS + 1,                // at Size
				-8,                         // negative
				advCS - 1,                  // below Start
				3*advCS - int64(ty.size)/2, // across the boundary at Size (at Size for a byte)
			}
			err := va.Batch(func(b *accessor.Batch) error {
				for _, off := range offs {
					_, err := ty.br(b, off)
					check(fmt.Sprintf("%s: Batch.Read%s(%d)", o.name, ty.name, off), err, chunkmap.ErrOutOfRange, "batch read "+name, ty.size, off)
					err = ty.bw(b, off, 1)
					check(fmt.Sprintf("%s: Batch.Write%s(%d)", o.name, ty.name, off), err, chunkmap.ErrOutOfRange, "batch write "+name, ty.size, off)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// Straddling a boundary inside [Start, Size): refused on a
			// read-only Manager.
			off := 2*advCS - int64(ty.size)/2
			err = vro.Batch(func(b *accessor.Batch) error {
				err := ty.bw(b, off, 1)
				check(fmt.Sprintf("%s: read-only Batch.Write%s(%d)", o.name, ty.name, off), err, chunkmap.ErrReadOnly, "batch write "+name, ty.size, off)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var saved *accessor.Batch
			if err := va.Batch(func(b *accessor.Batch) error { saved = b; return nil }); err != nil {
				t.Fatal(err)
			}
			_, err = ty.br(saved, off)
			check(fmt.Sprintf("%s: Read%s(%d) after the batch", o.name, ty.name, off), err, chunkmap.ErrClosed, "batch read "+name, ty.size, off)
			err = ty.bw(saved, off+8, 1)
			check(fmt.Sprintf("%s: Write%s(%d) after the batch", o.name, ty.name, off+8), err, chunkmap.ErrClosed, "batch write "+name, ty.size, off+8)
		}
	}
}
