//go:build linux

package chunkmap_test

// The entry points the faultz tests drive under a fault, each one call at
// one offset: every read, write, pin, batch, gather, scatter, atomic and
// hint of the Manager, and the accessor's typed, bulk, gather, atomic,
// view, batch and scan calls.

import (
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// fzOp is one call at offset off (a multiple of 8) that touches the 8 bytes
// at off (a bulk call 24, a block scan 8).
type fzOp struct {
	name  string
	op    string // the operation its messages must start with
	write bool   // it stores (and so needs disk blocks)
	pin   bool   // it returns mapped bytes without touching them (Pin, PinWritable, Slice): not fault guarded
	hint  bool   // a hint that changes speed, never results (Advise)
	run   func(m *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error
}

// fzSink keeps the sums of fzTouch alive, so that the compiler cannot drop
// the loads.
var fzSink atomic.Uint64

// fzTouch reads every byte of p, so that a fault in p happens now.
func fzTouch(p []byte) {
	var s byte
	for i := range p {
		s += p[i]
	}
	fzSink.Add(uint64(s))
}

// fzRead returns a typed read that drops its value.
func fzRead[T any](read func(*accessor.ViewAccessor, int64) (T, error)) func(*accessor.ViewAccessor, int64) error {
	return func(va *accessor.ViewAccessor, off int64) error {
		_, err := read(va, off)
		return err
	}
}

// fzWrite returns a typed write of x.
func fzWrite[T any](write func(*accessor.ViewAccessor, int64, T) error, x T) func(*accessor.ViewAccessor, int64) error {
	return func(va *accessor.ViewAccessor, off int64) error { return write(va, off, x) }
}

// fzCount returns a scan of count values at off by seq that returns how
// many it yielded.
func fzCount[T any](seq func(*accessor.Scanner, int64, int) iter.Seq2[int64, T], count int) func(*accessor.Scanner, int64) int {
	return func(s *accessor.Scanner, off int64) (n int) {
		for range seq(s, off, count) {
			n++
		}
		return n
	}
}

// fzOps returns every call under test.
func fzOps() []fzOp {
	var ops []fzOp
	add := func(name, op string, write bool, run func(m *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error) {
		ops = append(ops, fzOp{name: name, op: op, write: write, run: run})
	}
	// Manager: reads.
	add("Manager.ReadAt", "read", false, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.ReadAt(make([]byte, 8), off)
		return err
	})
	add("Manager.Gather", "gather", false, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		return m.Gather(make([]byte, 16), []int64{off, off + 8}, 8)
	})
	add("Manager.LoadUint64", "atomic", false, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.LoadUint64(off)
		return err
	})
	add("Manager.LoadUint32", "atomic", false, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.LoadUint32(off)
		return err
	})
	add("Batch.Bytes", "batch", false, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		return m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.Bytes(off, 8)
			if err != nil {
				return err
			}
			fzTouch(p)
			return nil
		})
	})
	ops = append(ops, fzOp{name: "Manager.Pin", op: "pin", pin: true, run: func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		p, err := m.Pin(off, 8)
		p.Release()
		return err
	}})
	ops = append(ops, fzOp{name: "Manager.Advise", op: "advise", hint: true, run: func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		return m.Advise(off, 8, chunkmap.AdviceWillNeed)
	}})
	// Manager: writes.
	add("Manager.WriteAt", "write", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.WriteAt([]byte("faultz!!"), off)
		return err
	})
	add("Manager.Scatter", "scatter", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		return m.Scatter([]byte("faultz!!FAULTZ!!"), []int64{off, off + 8}, 8)
	})
	add("Manager.StoreUint64", "atomic", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		return m.StoreUint64(off, 0x0102030405060708)
	})
	add("Manager.StoreUint32", "atomic", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		return m.StoreUint32(off, 0x01020304)
	})
	add("Manager.AddUint64", "atomic", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.AddUint64(off, 1)
		return err
	})
	add("Manager.AddUint32", "atomic", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.AddUint32(off, 1)
		return err
	})
	add("Manager.CompareAndSwapUint64", "atomic", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.CompareAndSwapUint64(off, 0, 1)
		return err
	})
	add("Manager.CompareAndSwapUint32", "atomic", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		_, err := m.CompareAndSwapUint32(off, 0, 1)
		return err
	})
	add("Batch.WritableBytes", "batch", true, func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		return m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.WritableBytes(off, 8)
			if err != nil {
				return err
			}
			copy(p, "faultz!!")
			return nil
		})
	})
	ops = append(ops, fzOp{name: "Manager.PinWritable", op: "pin", write: true, pin: true, run: func(m *chunkmap.Manager, _ *accessor.ViewAccessor, off int64) error {
		p, err := m.PinWritable(off, 8)
		p.Release()
		return err
	}})

	// Accessor: typed reads of every type.
	reads := []struct {
		name string
		fn   func(va *accessor.ViewAccessor, off int64) error
	}{
		{"Uint8", fzRead((*accessor.ViewAccessor).ReadUint8)},
		{"Int8", fzRead((*accessor.ViewAccessor).ReadInt8)},
		{"Uint16", fzRead((*accessor.ViewAccessor).ReadUint16)},
		{"Int16", fzRead((*accessor.ViewAccessor).ReadInt16)},
		{"Uint32", fzRead((*accessor.ViewAccessor).ReadUint32)},
		{"Int32", fzRead((*accessor.ViewAccessor).ReadInt32)},
		{"Uint64", fzRead((*accessor.ViewAccessor).ReadUint64)},
		{"Int64", fzRead((*accessor.ViewAccessor).ReadInt64)},
		{"Float32", fzRead((*accessor.ViewAccessor).ReadFloat32)},
		{"Float64", fzRead((*accessor.ViewAccessor).ReadFloat64)},
	}
	for _, r := range reads {
		add("ViewAccessor.Read"+r.name, "read", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
			return r.fn(va, off)
		})
	}
	writes := []struct {
		name string
		fn   func(va *accessor.ViewAccessor, off int64) error
	}{
		{"Uint8", fzWrite((*accessor.ViewAccessor).WriteUint8, 1)},
		{"Int8", fzWrite((*accessor.ViewAccessor).WriteInt8, -1)},
		{"Uint16", fzWrite((*accessor.ViewAccessor).WriteUint16, 1)},
		{"Int16", fzWrite((*accessor.ViewAccessor).WriteInt16, -1)},
		{"Uint32", fzWrite((*accessor.ViewAccessor).WriteUint32, 1)},
		{"Int32", fzWrite((*accessor.ViewAccessor).WriteInt32, -1)},
		{"Uint64", fzWrite((*accessor.ViewAccessor).WriteUint64, 1)},
		{"Int64", fzWrite((*accessor.ViewAccessor).WriteInt64, -1)},
		{"Float32", fzWrite((*accessor.ViewAccessor).WriteFloat32, 1.5)},
		{"Float64", fzWrite((*accessor.ViewAccessor).WriteFloat64, 2.5)},
	}
	for _, w := range writes {
		add("ViewAccessor.Write"+w.name, "write", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
			return w.fn(va, off)
		})
	}
	add("ViewAccessor.ReadAt", "read", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.ReadAt(make([]byte, 8), off)
		return err
	})
	add("ViewAccessor.WriteAt", "write", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.WriteAt([]byte("faultz!!"), off)
		return err
	})
	// Accessor: bulk.
	add("ViewAccessor.ReadUint64s", "read", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.ReadUint64s(off, make([]uint64, 3))
	})
	add("ViewAccessor.ReadUint32s", "read", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.ReadUint32s(off, make([]uint32, 6))
	})
	add("ViewAccessor.ReadUint16s", "read", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.ReadUint16s(off, make([]uint16, 12))
	})
	add("ViewAccessor.ReadFloat64s", "read", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.ReadFloat64s(off, make([]float64, 3))
	})
	add("ViewAccessor.ReadFloat32s", "read", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.ReadFloat32s(off, make([]float32, 6))
	})
	add("ViewAccessor.WriteUint64s", "write", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.WriteUint64s(off, []uint64{1, 2, 3})
	})
	add("ViewAccessor.WriteUint32s", "write", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.WriteUint32s(off, []uint32{1, 2, 3, 4, 5, 6})
	})
	add("ViewAccessor.WriteUint16s", "write", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.WriteUint16s(off, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	})
	add("ViewAccessor.WriteFloat64s", "write", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.WriteFloat64s(off, []float64{1, 2, 3})
	})
	add("ViewAccessor.WriteFloat32s", "write", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.WriteFloat32s(off, []float32{1, 2, 3, 4, 5, 6})
	})
	// Accessor: gather and scatter.
	add("ViewAccessor.ReadUint64sAt", "gather", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.ReadUint64sAt([]int64{off, off + 8}, make([]uint64, 2))
	})
	add("ViewAccessor.ReadUint32sAt", "gather", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.ReadUint32sAt([]int64{off, off + 4}, make([]uint32, 2))
	})
	add("ViewAccessor.WriteUint64sAt", "scatter", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.WriteUint64sAt([]int64{off, off + 8}, []uint64{1, 2})
	})
	add("ViewAccessor.WriteUint32sAt", "scatter", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.WriteUint32sAt([]int64{off, off + 4}, []uint32{1, 2})
	})
	// Accessor: atomics.
	add("ViewAccessor.LoadUint64", "atomic", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.LoadUint64(off)
		return err
	})
	add("ViewAccessor.LoadUint32", "atomic", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.LoadUint32(off)
		return err
	})
	add("ViewAccessor.StoreUint64", "atomic", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.StoreUint64(off, 7)
	})
	add("ViewAccessor.StoreUint32", "atomic", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.StoreUint32(off, 7)
	})
	add("ViewAccessor.AddUint64", "atomic", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.AddUint64(off, 3)
		return err
	})
	add("ViewAccessor.AddUint32", "atomic", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.AddUint32(off, 3)
		return err
	})
	add("ViewAccessor.CompareAndSwapUint64", "atomic", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.CompareAndSwapUint64(off, 0, 9)
		return err
	})
	add("ViewAccessor.CompareAndSwapUint32", "atomic", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		_, err := va.CompareAndSwapUint32(off, 0, 9)
		return err
	})
	// Accessor: views.
	ops = append(ops, fzOp{name: "ViewAccessor.Slice", op: "slice", write: true, pin: true, run: func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		v, err := va.Slice(off, 8)
		if v != nil {
			v.Release()
		}
		return err
	}})
	// Accessor: batches.
	add("accessor.Batch.ReadUint64", "batch", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.Batch(func(b *accessor.Batch) error {
			_, err := b.ReadUint64(off)
			return err
		})
	})
	add("accessor.Batch.ReadFloat32", "batch", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.Batch(func(b *accessor.Batch) error {
			_, err := b.ReadFloat32(off)
			return err
		})
	})
	add("accessor.Batch.WriteUint64", "batch", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.Batch(func(b *accessor.Batch) error { return b.WriteUint64(off, 5) })
	})
	add("accessor.Batch.WriteInt16", "batch", true, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
		return va.Batch(func(b *accessor.Batch) error { return b.WriteInt16(off, -5) })
	})
	// Accessor: scans (iterators); their error is in Err.
	scans := []struct {
		name string
		fn   func(s *accessor.Scanner, off int64) int
	}{
		{"Uint64s", fzCount((*accessor.Scanner).Uint64s, 3)},
		{"Int64s", fzCount((*accessor.Scanner).Int64s, 3)},
		{"Float64s", fzCount((*accessor.Scanner).Float64s, 3)},
		{"Uint32s", fzCount((*accessor.Scanner).Uint32s, 6)},
		{"Int32s", fzCount((*accessor.Scanner).Int32s, 6)},
		{"Float32s", fzCount((*accessor.Scanner).Float32s, 6)},
		{"Uint16s", fzCount((*accessor.Scanner).Uint16s, 12)},
		{"Int16s", fzCount((*accessor.Scanner).Int16s, 12)},
		{"Blocks", func(s *accessor.Scanner, off int64) (n int) {
			for _, b := range s.Blocks(off, 8) {
				fzTouch(b)
				n++
			}
			return
		}},
	}
	for _, sc := range scans {
		add("Scanner."+sc.name, "scan", false, func(_ *chunkmap.Manager, va *accessor.ViewAccessor, off int64) error {
			s := va.Scan()
			n := sc.fn(s, off)
			err := s.Err()
			if err != nil && n != 0 {
				return fmt.Errorf("scan yielded %d values before failing at the first piece: %w", n, err)
			}
			return err
		})
	}
	return ops
}
