package accessor

// This file holds Scanner: range-over-func scans of typed values and of
// mapped blocks over a range, whose errors the Scanner records as
// bufio.Scanner does. The typed scans are one generic function,
// scanValues; their per-type methods are generated into typed_gen.go.
//
// The two kinds of scan are guarded differently, for speed and for Go's
// rules on loop bodies:
//
//   - A typed scan copies the values a piece (scanPiece bytes) at a time
//     into a buffer on the stack with one ReadAt, which is fault guarded,
//     and yields them from there. The iterator is small enough for the
//     compiler to inline into the caller, and the loop body into it, so a
//     value costs a load from the L1 cache and the body. Yielding each
//     value straight from the mapping, from inside a guarded frame, would
//     save the copy but cost an indirect call per value: a prototype of
//     that ran at 0.4 to 0.5 times the speed of a loop over a flat mapping.
//     The loop over a piece yields four values per step: advancing the
//     slice by one value per step chains each step's address to the last
//     one's (about 3 cycles a value), and the unrolled loop runs twice as
//     fast, at the cost of four copies of the loop body (plus one for the
//     tail) in the caller. The loop body runs outside any guard and holds
//     nothing.
//   - A block scan yields mapped bytes, so the loop body itself reads
//     mapped memory, which must be guarded: each block is yielded from
//     inside a Batch (one per chunk) after every page of it has been
//     touched under the Batch's guard. A fault in the loop body cannot be
//     turned into Err: Go does not let an iterator swallow a panic of its
//     loop body (the caller would panic with "range function recovered a
//     loop body panic and did not resume panicking"), so it panics again.

import (
	"fmt"
	"io"
	"iter"
	"unsafe"

	"github.com/chunkmap/chunkmap"
)

// scanPiece is the size in bytes of a typed scan's buffer, filled with one
// ReadAt. Measured on BenchmarkScan/case=uint64s (2 GiB, AMD EPYC), 2 and
// 4 KiB were fastest; 1 KiB pays for the call (a lookup and a fault guard,
// about 10 ns) too often, and from 8 KiB on the copy and the loop body no
// longer share the L1 cache well. The smaller costs less to zero when a
// scan starts.
const scanPiece = 2048

// touchStride is the distance between the bytes touch loads: 4 KiB, the
// smallest page size Go runs on, of which every other page size is a
// multiple.
const touchStride = 4096

// Scanner runs range-over-func scans over a ViewAccessor's dataset and
// records their errors, as [bufio.Scanner] does: a scan that fails just
// ends, and Err returns why. The first error sticks: once a Scanner holds
// one, each of its scans yields nothing more, so a caller may run several
// scans and check Err once at the end. That includes a scan in progress
// when a scan nested in its loop body fails: it ends too, once it has
// yielded the values it had read (a typed scan reads up to 2 KiB of them
// at a time; a block scan, one block), so that a scan that ran to its end
// never leaves an error behind.
//
//	s := va.Scan()
//	for off, x := range s.Uint64s(0, n) {
//		fmt.Println(off, x)
//	}
//	if err := s.Err(); err != nil {
//		return err
//	}
//
// Each iterator may be ranged over any number of times, and each range
// scans afresh. A loop body may break at any point, return, or panic; the
// scan then releases everything at once. It may call any method of the
// Manager (Truncate, Close, another scan...): no lock is held while it
// runs, and the scan checks the range again before its next piece or
// block, so a range that a body shrank or closed ends the scan with an
// error.
//
// A Scanner is not safe for concurrent use: give each goroutine its own
// (they cost one small allocation). Its scans may be nested.
type Scanner struct {
	v   *ViewAccessor
	err error
	// touched keeps the loads of touch from being optimised away.
	touched byte
}

// Scan returns a new Scanner over the accessor's dataset, with no error.
// Scan is the only way to make one: the zero Scanner has no dataset, and
// its scans yield nothing and leave an error matching
// [chunkmap.ErrClosed] in Err.
func (v *ViewAccessor) Scan() *Scanner {
	return &Scanner{v: v}
}

// Err returns the first error of the Scanner's scans, or nil. Every error
// wraps one of the root package's sentinels: [chunkmap.ErrOutOfRange] for
// a range not wholly inside [Start, Size) when the scan starts or reaches
// it (after a concurrent Truncate, say), [chunkmap.ErrClosed],
// [chunkmap.ErrFault] for a chunk file truncated or removed by another
// process or a failed device, and so on. A scan yields values, in order,
// up to the point where it failed, and none after it. A typed scan checks
// and copies its range a piece of 2 KiB at a time, so the piece that meets
// a concurrent Truncate's new Size fails whole: its values below the new
// Size are not yielded either.
func (s *Scanner) Err() error {
	return s.err
}

// fail records err unless the Scanner holds an error already.
func (s *Scanner) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// countPlace names a scan op of count values of size bytes at off whose
// extent in bytes cannot be stated (count is negative, or the bytes
// overflow int64): by the count as given, in values (a block scan's count
// is bytes).
func countPlace(op string, off, count int64, size int) string {
	unit := "value"
	if size == 1 {
		unit = "byte"
	}
	if count != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%s (%d %s) at offset %d", op, count, unit, off)
}

// countErr is the error of a scan op of count values of size bytes at off
// whose extent in bytes cannot be stated: it names the count as given.
func (s *Scanner) countErr(op string, off, count int64, size int, detail string) error {
	return fmt.Errorf("%s in %s: %w: %s",
		countPlace(op, off, count, size), s.v.dir(), chunkmap.ErrOutOfRange, detail)
}

// check checks a scan op of count values of size bytes at off and returns
// its length in bytes, as checkRead does for a bulk read; count is an
// int64, and may be huge or negative.
func (s *Scanner) check(op string, off, count int64, size int) (int64, error) {
	v := s.v
	if v == nil {
		return 0, fmt.Errorf("%s: %w: a zero Scanner (use the one ViewAccessor.Scan returns)",
			countPlace(op, off, count, size), chunkmap.ErrClosed)
	}
	// An empty ReadAt reports a closed Manager and a negative offset, in
	// the scan's name and extent: its bytes, or the count as given where
	// they cannot be stated (as countErr names it), never "0 bytes".
	if _, err := v.mgr().ReadAt(nil, off); err != nil {
		if count < 0 || count > maxOffset/int64(size) {
			return 0, v.restatePlace(countPlace(op, off, count, size), err)
		}
		return 0, v.restate(op, off, count*int64(size), err)
	}
	if count < 0 {
		return 0, s.countErr(op, off, count, size, "negative count")
	}
	if count > maxOffset/int64(size) || count*int64(size) > maxOffset-off {
		// A block scan counts bytes, not values (as countErr names it).
		detail := "end overflows int64"
		if size > 1 {
			detail = fmt.Sprintf("the end of %d values of %d bytes overflows int64", count, size)
		}
		return 0, s.countErr(op, off, count, size, detail)
	}
	n := count * int64(size)
	if n == 0 {
		return 0, nil
	}
	switch start, end := v.mgr().Start(), v.mgr().Size(); {
	case off < start:
		return 0, v.rangeErr(op, off, n, fmt.Sprintf("below start %d", start))
	case off+n > end:
		return 0, v.pastSize(op, off, n)
	}
	return n, nil
}

// cursor walks the range of a typed scan a piece at a time.
type cursor struct {
	s     *Scanner
	op    string
	first int64 // the scan's first offset, for errors
	off   int64 // the offset of the next piece
	end   int64 // the end of the range
	size  int   // bytes per value
}

// start checks the typed scan op of n values of size bytes at off and
// returns its cursor. The cursor of a scan that must not run (the Scanner
// holds an error, or the range is wrong, which it records) is at its end.
func (s *Scanner) start(op string, off int64, n, size int) cursor {
	c := cursor{s: s, op: op, first: off, off: off, end: off, size: size}
	if s.err != nil {
		return c
	}
	nb, err := s.check(op, off, int64(n), size)
	if err != nil {
		s.fail(err)
		return c
	}
	c.end = off + nb
	return c
}

// next copies the next piece of the scan into buf, whose length is a
// multiple of the value size and which is aligned for the values, converts
// them to the machine's byte order, and returns it with its offset. It returns nil at the end of the range, and
// after an error, which it records in the Scanner.
func (c *cursor) next(buf []byte) ([]byte, int64) {
	k := min(c.end-c.off, int64(len(buf)))
	if k <= 0 || c.s.err != nil {
		// At the end, or a nested scan failed (see Scanner).
		return nil, 0
	}
	b := buf[:k]
	v := c.s.v
	if _, err := v.mgr().ReadAt(b, c.off); err != nil {
		if err == io.EOF {
			// Size shrank since the scan started.
			err = v.pastSize(c.op, c.first, c.end-c.first)
		} else {
			err = v.restate(c.op, c.first, c.end-c.first, err)
		}
		c.s.fail(err)
		c.end = c.off
		return nil, 0
	}
	v.toNative(b, c.size)
	off := c.off
	c.off += k
	return b, off
}

// scanValues is the typed scan of n values of T from offset off on; op
// names it. The loop over a piece takes four values a step (see the top of
// this file).
func scanValues[T value](s *Scanner, op string, off int64, n int) iter.Seq2[int64, T] {
	return func(yield func(int64, T) bool) {
		var words [scanPiece / 8]uint64 // aligned for any T
		size := sizeOf[T]()
		c := s.start(op, off, n, size)
		for b, o := c.next(rawBytes(words[:])); b != nil; b, o = c.next(rawBytes(words[:])) {
			vals := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/size)
			for ; len(vals) >= 4; vals, o = vals[4:], o+int64(4*size) {
				if !yield(o, vals[0]) || !yield(o+int64(size), vals[1]) ||
					!yield(o+int64(2*size), vals[2]) || !yield(o+int64(3*size), vals[3]) {
					return
				}
			}
			for i, x := range vals {
				if !yield(o+int64(i*size), x) {
					return
				}
			}
		}
	}
}

// Blocks returns an iterator over the n bytes from offset off on, in
// blocks of mapped memory: it yields each block with the offset of its
// first byte, in order, one block per chunk the range covers (the part of
// the chunk inside the range). The bytes are not copied: they are mapped
// memory owned by the Manager, valid only during the iteration step that
// yields them, and they must not be stored to or kept. [off, off+n) must
// lie within [Start, Size) when the scan starts; otherwise it yields
// nothing, and Err reports an error matching [chunkmap.ErrOutOfRange]. A
// scan of n = 0 bytes yields nothing and, as an empty ReadAt, reports no
// error at any offset of at least 0 (a 0-byte [ViewAccessor.Slice], which
// holds its range, checks it).
//
// Each block is yielded from inside a [chunkmap.Manager.Batch] that holds
// its chunk (so a Close called from the loop body returns ErrBusy, and
// closes the Manager all the same), after every page of the block has been
// touched under the Batch's fault guard: a chunk file truncated from
// outside before the scan reaches it ends the scan with ErrFault in Err. A
// fault while the loop body itself reads a block (the file truncated in
// that very step) panics in the loop body with an error matching
// [chunkmap.ErrFault]: Go does not let an iterator turn its loop body's
// panic into an error. The loop body runs inside that Batch, so with
// [runtime/debug.SetPanicOnFault] on: a fault at the program's own memory
// there is a runtime panic too, where outside it would end the program
// (the caller's setting is back once the scan ends).
//
// Range over Blocks directly. Consumed through [iter.Pull2], the blocks are
// read on the caller's goroutine while the scan, and its fault guard, run
// on another: a block's chunk file truncated from outside in that step
// then kills the process with SIGBUS, as it does for a [chunkmap.Pinned]'s
// bytes. And the Batch of a block handed out by next stays open until the
// next call of next or of stop: call stop when done, or the chunk stays
// held, and Close reports ErrBusy, for as long as the scan is suspended.
func (s *Scanner) Blocks(off, n int64) iter.Seq2[int64, []byte] {
	return func(yield func(int64, []byte) bool) {
		s.blocks(off, n, yield)
	}
}

// blocks runs the block scan of n bytes at off.
func (s *Scanner) blocks(off, n int64, yield func(int64, []byte) bool) {
	const op = "scan blocks"
	if s.err != nil {
		return
	}
	n, err := s.check(op, off, n, 1)
	if err != nil {
		s.fail(err)
		return
	}
	mask := s.v.mgr().ChunkSize() - 1
	// A nested scan that failed ends this one too (see Scanner).
	for o, end := off, off+n; o < end && s.err == nil; {
		k := min(end-o, mask+1-o&mask)
		more, err := s.block(o, int(k), yield)
		if err != nil {
			s.fail(s.v.restate(op, off, n, err))
			return
		}
		if !more {
			return
		}
		o += k
	}
}

// block yields the k bytes at off, which lie in one chunk, from inside a
// Batch; more is what yield returned.
func (s *Scanner) block(off int64, k int, yield func(int64, []byte) bool) (more bool, err error) {
	inBody := false
	err = s.v.mgr().Batch(func(b *chunkmap.Batch) error {
		p, err := b.Bytes(off, k)
		if err != nil {
			return err
		}
		s.touched ^= touch(p)
		inBody = true
		more = yield(off, p)
		inBody = false
		return nil
	})
	if inBody {
		// The loop body faulted: a fault is the only panic that Batch
		// recovers; any other panic of the body goes on unwinding through
		// here. It must go on as a panic (see the top of this file).
		// Named as the scan, once: not also as the Batch the scan runs
		// in, whose place err starts with.
		panic(&restated{fmt.Sprintf("scan blocks: the loop body faulted on the block of %d bytes at offset %d: %s", k, off, unplace(err)), err})
	}
	return more, err
}

// touch loads one byte of every page of p and returns their OR, so that a
// page that faults (its chunk file truncated from outside) faults here,
// under the scan's guard, and not in the loop body. It costs about 5% of a
// block scan whose body runs at memory speed (BenchmarkScan, case
// blocks-unrolled: 16,000 loads that miss every cache, per 64 MiB chunk).
// Touching smaller blocks just before yielding each, so that the body
// would find the lines touched still cached, measured slower: 12% for
// blocks of 1 MiB, 35% for 256 KiB.
func touch(p []byte) byte {
	if len(p) == 0 {
		return 0
	}
	// Bytes touchStride apart lie in the same or adjacent pages, so every
	// page up to the last touched is touched; the last byte covers the
	// rest.
	x := p[len(p)-1]
	for i := 0; i < len(p); i += touchStride {
		x |= p[i]
	}
	return x
}
