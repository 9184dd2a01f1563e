package accessor_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestAdversarialBatchTyped proves that every typed Batch call, of every
// type and in every byte order, writes exactly the value's encoding at
// offsets around chunk boundaries (straddling values included), reads back
// what the model holds, agrees with the accessor's own typed reads, and
// survives Close and reopen.
func TestAdversarialBatchTyped(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_SEED")
	for _, o := range advOrders {
		t.Run(o.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 4))
			dir := t.TempDir()
			m := advOpen(t, dir, &chunkmap.Options{MaxMapped: 1})
			va := accessor.New(m, o.order)
			md := &advModel{}
			p := make([]byte, 4*advCS)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			m.WriteAt(p, 0)
			md.put(0, p)
			err := va.Batch(func(b *accessor.Batch) error {
				for _, ty := range advTypes {
					for _, base := range []int64{advCS, 2 * advCS, 3 * advCS} {
						for d := int64(-9); d <= 9; d++ {
							off := base + d
							x := rng.Uint64()
							if err := ty.bw(b, off, x); err != nil {
								return fmt.Errorf("Batch.Write%s(%d): %w", ty.name, off, err)
							}
							md.put(off, advEncode(o.enc, ty.size, x))
							got, err := ty.br(b, off)
							if err != nil {
								return fmt.Errorf("Batch.Read%s(%d): %w", ty.name, off, err)
							}
							if want := advMask(ty.size, x); got != want {
								return fmt.Errorf("Batch.Read%s(%d) = %#x, want %#x", ty.name, off, got, want)
							}
							if got2, err := ty.read(va, off); err != nil || got2 != got {
								return fmt.Errorf("Read%s(%d) in the batch = %#x, %v; batch read %#x", ty.name, off, got2, err, got)
							}
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			advPinned(t, m, "after the batch")
			advCheck(t, m, md, "after the batch")
			advReopen(t, m, dir, md)
		})
	}
}

// TestAdversarialBatchRefusedWriteStoresNothing proves that a Batch write
// that is refused (past Size, wholly or by its last bytes across a chunk
// boundary; below Start, wholly or by its first bytes) stores no byte, and
// that a Batch read there fails with ErrOutOfRange.
func TestAdversarialBatchRefusedWriteStoresNothing(t *testing.T) {
	for _, o := range advOrders {
		dir := t.TempDir()
		m := advOpen(t, dir, nil)
		va := accessor.New(m, o.order)
		md := &advModel{}
		p := make([]byte, 3*advCS+3) // Size 3 bytes into chunk 3
		for i := range p {
			p[i] = byte(i*5 + 1)
		}
		m.WriteAt(p, 0)
		md.put(0, p)
		if err := m.DropBefore(advCS); err != nil {
			t.Fatal(err)
		}
		err := va.Batch(func(b *accessor.Batch) error {
			for _, ty := range advTypes {
				var offs []int64
				for d := int64(1); d < int64(ty.size); d++ {
					offs = append(offs, 3*advCS+3-int64(ty.size)+d) // past Size by d
					offs = append(offs, advCS-d)                    // below Start by d
				}
				offs = append(offs, 3*advCS+3, 4*advCS, advCS-int64(ty.size), -1)
				for _, off := range offs {
					err := ty.bw(b, off, 0xffffffffffffffff)
					advIsErr(t, fmt.Sprintf("%s: Batch.Write%s(%d)", o.name, ty.name, off), err, chunkmap.ErrOutOfRange)
					_, err = ty.br(b, off)
					advIsErr(t, fmt.Sprintf("%s: Batch.Read%s(%d)", o.name, ty.name, off), err, chunkmap.ErrOutOfRange)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		advCheck(t, m, md, o.name+": after refused batch writes")
		if m.Size() != 3*advCS+3 {
			t.Errorf("Size changed to %d", m.Size())
		}
	}
}

// TestAdversarialBatchMisuse proves that a Batch used after its function
// returned (from the same goroutine and from another) fails with ErrClosed
// for every typed call, straddling values included, and changes nothing;
// that a panic in the function goes on with its value and leaves nothing
// pinned; that the function's own error comes back unchanged; and that a
// Batch that closes its own Manager gets ErrBusy from Close, and ErrClosed
// from its next call.
func TestAdversarialBatchMisuse(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, nil)
	va := accessor.New(m, nil)
	md := &advModel{}
	p := make([]byte, 2*advCS)
	for i := range p {
		p[i] = byte(i)
	}
	m.WriteAt(p, 0)
	md.put(0, p)
	var kept *accessor.Batch
	if err := va.Batch(func(b *accessor.Batch) error {
		if _, err := b.ReadUint64(advCS - 4); err != nil {
			return err
		}
		kept = b
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check := func(where string) {
		for _, ty := range advTypes {
			for _, off := range []int64{0, advCS - 3, advCS} {
				err := ty.bw(kept, off, 0xaaaaaaaaaaaaaaaa)
				advIsErr(t, fmt.Sprintf("%s: stale Batch.Write%s(%d)", where, ty.name, off), err, chunkmap.ErrClosed)
				_, err = ty.br(kept, off)
				advIsErr(t, fmt.Sprintf("%s: stale Batch.Read%s(%d)", where, ty.name, off), err, chunkmap.ErrClosed)
			}
		}
	}
	check("same goroutine")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); check("other goroutine") }()
	wg.Wait()
	advCheck(t, m, md, "after stale batch calls")
	advPinned(t, m, "after stale batch calls")

	// A panic goes on, nothing stays held.
	type boom struct{}
	func() {
		defer func() {
			if r := recover(); r != (boom{}) {
				t.Errorf("recovered %v, want boom{}", r)
			}
		}()
		va.Batch(func(b *accessor.Batch) error {
			b.WriteUint32(advCS-2, 0x01020304)
			panic(boom{})
		})
	}()
	md.put(advCS-2, []byte{4, 3, 2, 1})
	advPinned(t, m, "after a panicking batch")
	advCheck(t, m, md, "after a panicking batch")

	// The function's error is returned as is.
	mine := errors.New("mine")
	if err := va.Batch(func(*accessor.Batch) error { return mine }); err != mine {
		t.Errorf("Batch returned %v, want the function's own error", err)
	}

	// Closing the Manager inside the batch.
	err := va.Batch(func(b *accessor.Batch) error {
		if _, err := b.ReadUint16(advCS - 1); err != nil {
			return err
		}
		advIsErr(t, "Close inside a batch", m.Close(), chunkmap.ErrBusy)
		_, err := b.ReadUint16(advCS - 1)
		advIsErr(t, "a batch read after Close", err, chunkmap.ErrClosed)
		err = b.WriteUint64(8, 1)
		advIsErr(t, "a batch write after Close", err, chunkmap.ErrClosed)
		return nil
	})
	if err != nil {
		t.Errorf("Batch: %v", err)
	}
	advIsErr(t, "Batch after Close", va.Batch(func(*accessor.Batch) error { return nil }), chunkmap.ErrClosed)
	m2 := advOpen(t, dir, nil)
	advCheck(t, m2, md, "after reopen")
}

// TestAdversarialBatchSeesTruncate proves that a Batch call after a
// Truncate made inside the same Batch sees the new Size (a read past it
// fails with ErrOutOfRange, also for a value straddling into a deleted
// chunk), and that a write there stores nothing that a later extension
// could reveal: the re-extended bytes read as zeros.
func TestAdversarialBatchSeesTruncate(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, nil)
	va := accessor.New(m, nil)
	p := make([]byte, 3*advCS)
	for i := range p {
		p[i] = 0xee
	}
	m.WriteAt(p, 0)
	err := va.Batch(func(b *accessor.Batch) error {
		if _, err := b.ReadUint64(advCS - 4); err != nil { // holds chunks 0 and 1
			return err
		}
		if _, err := b.ReadUint64(2*advCS + 8); err != nil { // holds chunk 2
			return err
		}
		if err := m.Truncate(advCS - 2); err != nil {
			return err
		}
		_, err := b.ReadUint64(advCS - 4)
		advIsErr(t, "straddling read past the new Size", err, chunkmap.ErrOutOfRange)
		err = b.WriteUint64(advCS-4, 0x1111111111111111)
		advIsErr(t, "straddling write past the new Size", err, chunkmap.ErrOutOfRange)
		err = b.WriteUint64(2*advCS+8, 0x2222222222222222)
		advIsErr(t, "write in a deleted chunk", err, chunkmap.ErrOutOfRange)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	advPinned(t, m, "after the batch")
	if err := m.Truncate(3 * advCS); err != nil {
		t.Fatal(err)
	}
	md := &advModel{}
	md.put(0, p[:advCS-2])
	md.truncate(3 * advCS)
	advCheck(t, m, md, "after re-extension")
	advReopen(t, m, dir, md)
}

// TestAdversarialBatchNilFunction proves that ViewAccessor.Batch(nil)
// returns an error matching ErrInvalidOptions, as Manager.Batch(nil) does
// (README, Errors), instead of panicking, and holds nothing afterwards.
func TestAdversarialBatchNilFunction(t *testing.T) {
	m := advOpen(t, t.TempDir(), nil)
	va := accessor.New(m, nil)
	m.WriteAt(make([]byte, 16), 0)
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("Batch(nil) panicked: %v", r)
			}
		}()
		err = va.Batch(nil)
	}()
	advIsErr(t, "Batch(nil)", err, chunkmap.ErrInvalidOptions, "batch")
	advPinned(t, m, "after Batch(nil)")
	if mErr := m.Batch(nil); !errors.Is(mErr, chunkmap.ErrInvalidOptions) {
		t.Errorf("Manager.Batch(nil) = %v (the contract the accessor should follow)", mErr)
	}
}
