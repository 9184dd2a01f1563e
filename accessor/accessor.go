// Package accessor reads and writes typed values, atomics and zero-copy
// views on a [chunkmap.Manager], so that callers never think about chunks.
// It plays the part of .NET's MemoryMappedViewAccessor or Lucene's
// IndexInput, over a dataset of any size. (The package Example runs this
// code.)
//
//	m, err := chunkmap.Open("/data/points", &chunkmap.Options{ChunkSize: 64 << 20})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer m.Close()
//	va := accessor.New(m, binary.BigEndian) // nil means little endian
//
//	// Typed values, in the accessor's byte order; a write past Size
//	// extends the dataset exactly like WriteAt.
//	if err := va.WriteUint64(0, 0xcafe); err != nil {
//		log.Fatal(err)
//	}
//	x, err := va.ReadUint64(0) // 0xcafe
//	if err != nil {
//		log.Fatal(err)
//	}
//
//	// Whole slices in one call.
//	if err := va.WriteFloat64s(8, []float64{1.5, 2.5}); err != nil {
//		log.Fatal(err)
//	}
//	vals := make([]float64, 2)
//	if err := va.ReadFloat64s(8, vals); err != nil {
//		log.Fatal(err)
//	}
//
//	// Atomics, in native byte order, on aligned bytes that exist.
//	if err := va.WriteUint64(24, 0); err != nil {
//		log.Fatal(err)
//	}
//	n, err := va.AddUint64(24, 1) // 1
//	if err != nil {
//		log.Fatal(err)
//	}
//
//	// Zero-copy bytes, pinned in place until Release.
//	w, err := va.Slice(0, 32)
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Println(x, vals, n, w.Bytes()[7]) // 51966 [1.5 2.5] 1 254
//	w.Release()
//
// # Byte order
//
// Typed and bulk calls use the [binary.ByteOrder] given to [New]:
// [binary.LittleEndian], [binary.BigEndian] or [binary.NativeEndian] take a
// path that allocates nothing; any other implementation works but costs an
// allocation per call (but for the calls of a [Batch], which allocate
// nothing in any order). Atomics always use the machine's native byte order,
// because the processor operates on the bytes in place: read a counter
// written by AddUint64 back with LoadUint64, or with ReadUint64 on an
// accessor whose order is [binary.NativeEndian].
//
// # Ranges
//
// Reads (typed, bulk and ReadAt) and atomics touch only bytes that exist,
// [Start, Size): a typed or bulk read, or an atomic, that is not wholly
// inside returns an error matching [chunkmap.ErrOutOfRange]. Only ReadAt
// reports a short read at Size with [io.EOF], as [io.ReaderAt] requires.
// Writes (typed, bulk and WriteAt) may go past Size and extend it, like
// [chunkmap.Manager.WriteAt]; atomics never extend Size. A value that
// straddles a chunk boundary is assembled from both chunks.
//
// Every error wraps one of the root package's sentinels (ErrOutOfRange,
// ErrUnaligned, ErrReadOnly, ErrClosed, ErrFault, ...) so that
// [errors.Is] matches it, and names the operation and the offset. The
// gather and scatter calls (ReadUint64sAt and the like) are the Manager's
// Gather and Scatter: a value whose access fails is reported as theirs
// ("gather 8 bytes at offset 16 …"), and the caller's own slice, too short
// for the offsets or faulting where the values go through the accessor's
// buffer (a byte order not the machine's), by the accessor call's name
// ("read uint64s at 2 offsets …").
//
// # Scans
//
// [ViewAccessor.Scan] returns a [Scanner], whose methods are range-over-func
// iterators over a range: Uint64s (and Int64s, Float64s, Uint32s and the
// rest) yields each value with its offset, and Blocks yields the mapped
// bytes themselves, one block per chunk, each valid only during its
// iteration step. A scan's errors follow [bufio.Scanner]: the loop just
// ends, and Err says why.
//
//	s := va.Scan()
//	for off, x := range s.Uint64s(0, n) {
//		...
//	}
//	if err := s.Err(); err != nil {
//		...
//	}
//
// Out-of-range ranges (checked when the scan starts and as it goes), a
// closed Manager and faults (a chunk file truncated by another process)
// all end up in Err; nothing panics out of the loop, except a panic of the
// loop body itself, which goes on after the scan has released what it
// holds (a block scan's loop body faulting on the block it was given is
// one: see [Scanner.Blocks]). The error is recorded in the Scanner, rather than returned through
// an *error argument of each iterator, because the Scanner keeps the
// iterators plain iter.Seq2 values with no out-parameter to forget or pass
// as nil, because its first error sticks across scans (several scans can
// be checked once), and because the pattern is the familiar one of
// bufio.Scanner and database/sql's Rows.
//
// A loop body may break, return, panic, or call any method of the Manager:
// no lock is held while it runs. A typed scan holds nothing then (it copies
// 2 KiB at a time); a block scan holds the block's chunk in a
// [chunkmap.Manager.Batch] (see [Scanner.Blocks]).
//
// # Standard interfaces
//
// A ViewAccessor, like a Manager, is an [io.ReaderAt] and an [io.WriterAt],
// so the standard library supplies streams over a range:
// io.NewSectionReader(va, off, n) is an [io.ReadSeeker] of n bytes from off,
// and io.NewOffsetWriter(va, off) an [io.WriteSeeker] that writes from off
// on. Both work on a Manager directly too.
//
// # Concurrency
//
// A ViewAccessor is safe for concurrent use by multiple goroutines, as is
// the Manager under it. Concurrent non-atomic writes to overlapping bytes
// have the semantics of plain memory stores. Atomics on the same word are
// atomic with respect to each other, in this process and in other processes
// that map the same chunk file.
//
// # Caveats
//
//   - The bytes of a [View] are mapped memory, valid only until
//     [View.Release]. A View keeps its chunks mapped whatever the LRU
//     wants, so Views may keep more than MaxMapped chunks mapped.
//   - On a read-write Manager a View marks its chunks as stored to, so the
//     next Sync flushes them even if nothing was written through the View;
//     use a read-only Manager for views that only read.
//   - Stores through View bytes are made durable by the next
//     [chunkmap.Manager.Sync] like any other write, but they are not fault
//     guarded: if another process truncates the chunk file, touching the
//     bytes kills the process (all other calls return ErrFault instead).
//   - A buffer given to a read or write (WriteAt's p, a bulk call's src or
//     dst) must not share memory with the dataset's bytes that call reads
//     or writes, such as the bytes of a View over them: the copy runs
//     forward in pieces, as a file's pwrite from a mapping of the same
//     file does, so it may read bytes it has already overwritten. Copy
//     such bytes to a buffer of their own first, or move them within one
//     View with the built-in copy, which handles overlap.
package accessor

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/chunkmap/chunkmap"
)

// orderKind says which byte order an accessor uses. The two standard orders
// are called through their concrete types: a value passed to a method of an
// interface escapes to the heap, so the interface is used only for orders
// that are neither.
type orderKind uint8

const (
	littleEndian orderKind = iota
	bigEndian
	customOrder
)

// nativeBig reports whether the machine is big endian.
var nativeBig = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// ViewAccessor reads and writes typed values, slices of them and atomic
// words at logical offsets of a [chunkmap.Manager], and hands out pinned
// zero-copy views of its bytes.
//
// A ViewAccessor is safe for concurrent use by multiple goroutines. It holds
// no state of its own besides the Manager and the byte order, so any number
// of accessors may share a Manager.
type ViewAccessor struct {
	m      *chunkmap.Manager
	kind   orderKind
	custom binary.ByteOrder // the order when kind is customOrder
	native bool             // the order is the machine's (see values.go)
}

// closedManager is the Manager of a zero ViewAccessor: a zero Manager,
// which is closed, so that each call returns ErrClosed, as New(nil)'s
// accessor's do, instead of panicking on a nil Manager. Its methods only
// read it.
var closedManager = new(chunkmap.Manager)

// mgr returns the accessor's Manager, or closedManager for a zero
// ViewAccessor.
func (v *ViewAccessor) mgr() *chunkmap.Manager {
	if m := v.m; m != nil {
		return m
	}
	return closedManager
}

// Assert that a ViewAccessor is an io.ReaderAt and an io.WriterAt.
var (
	_ io.ReaderAt = (*ViewAccessor)(nil)
	_ io.WriterAt = (*ViewAccessor)(nil)
)

// New returns an accessor for m that encodes typed values in the given byte
// order; a nil order means [binary.LittleEndian]. Atomics ignore the order
// and use the machine's own. A nil m gives an accessor of a closed
// Manager, whose every call returns [chunkmap.ErrClosed], and so does a
// zero ViewAccessor (get a working one from New).
func New(m *chunkmap.Manager, order binary.ByteOrder) *ViewAccessor {
	if m == nil {
		m = new(chunkmap.Manager) // a Manager Open did not return is closed
	}
	v := &ViewAccessor{m: m}
	// Comparing interfaces whose dynamic types differ is false, never a
	// panic, so a non-comparable custom order is safe here.
	switch order {
	case nil, binary.ByteOrder(binary.LittleEndian):
		v.kind = littleEndian
	case binary.ByteOrder(binary.BigEndian):
		v.kind = bigEndian
	case binary.ByteOrder(binary.NativeEndian):
		v.kind = littleEndian
		if nativeBig {
			v.kind = bigEndian
		}
	default:
		v.kind, v.custom = customOrder, order
	}
	v.native = v.kind == littleEndian && !nativeBig || v.kind == bigEndian && nativeBig
	return v
}

// ReadAt implements [io.ReaderAt] exactly as [chunkmap.Manager.ReadAt]
// does: it copies len(p) bytes from offset off into p; a read that reaches
// past Size returns the bytes before Size and io.EOF; reading below Start
// returns ErrOutOfRange. It may run in parallel with every other call and
// does not retain p.
func (v *ViewAccessor) ReadAt(p []byte, off int64) (int, error) {
	return v.mgr().ReadAt(p, off)
}

// WriteAt implements [io.WriterAt] exactly as [chunkmap.Manager.WriteAt]
// does: it writes p at offset off, extending Size to off+len(p) if that is
// past it. It may run in parallel with every other call, concurrent writes
// to overlapping bytes having the semantics of plain memory stores, and it
// does not retain p.
func (v *ViewAccessor) WriteAt(p []byte, off int64) (int, error) {
	return v.mgr().WriteAt(p, off)
}

// pastSize is the error of a typed or bulk read of n bytes at off that
// reaches past Size.
func (v *ViewAccessor) pastSize(op string, off, n int64) error {
	return fmt.Errorf("%s in %s: %w: past size %d", extent(op, off, n), v.dir(), chunkmap.ErrOutOfRange, v.mgr().Size())
}
