package accessor

// This file holds Scanner: range-over-func scans of typed values and of
// mapped blocks over a range, whose errors the Scanner records as
// bufio.Scanner does. The typed scans all have one shape.
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
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"math"

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
// one, each of its scans yields nothing, so a caller may run several scans
// and check Err once at the end.
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
func (v *ViewAccessor) Scan() *Scanner {
	return &Scanner{v: v}
}

// Err returns the first error of the Scanner's scans, or nil. Every error
// wraps one of the root package's sentinels: [chunkmap.ErrOutOfRange] for
// a range not wholly inside [Start, Size) when the scan starts or reaches
// it (after a concurrent Truncate, say), [chunkmap.ErrClosed],
// [chunkmap.ErrFault] for a chunk file truncated or removed by another
// process or a failed device, and so on. A scan yields values, in order,
// up to the point where it failed, and none after it.
func (s *Scanner) Err() error {
	return s.err
}

// fail records err unless the Scanner holds an error already.
func (s *Scanner) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// check checks a scan op of count values of size bytes at off and returns
// its length in bytes, as checkRead does for a bulk read; count is an
// int64, and may be huge or negative.
func (s *Scanner) check(op string, off, count int64, size int) (int64, error) {
	v := s.v
	// An empty ReadAt reports a closed Manager and a negative offset.
	if _, err := v.m.ReadAt(nil, off); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if count < 0 {
		return 0, v.rangeErr(op, off, 0, fmt.Sprintf("negative count %d", count))
	}
	if count > maxOffset/int64(size) || count*int64(size) > maxOffset-off {
		return 0, v.rangeErr(op, off, 0, fmt.Sprintf("the end of %d values of %d bytes overflows int64", count, size))
	}
	n := count * int64(size)
	if n == 0 {
		return 0, nil
	}
	switch start, end := v.m.Start(), v.m.Size(); {
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
// multiple of the value size, converts its values to little endian, and
// returns it with its offset. It returns nil at the end of the range, and
// after an error, which it records in the Scanner.
func (c *cursor) next(buf []byte) ([]byte, int64) {
	k := min(c.end-c.off, int64(len(buf)))
	if k <= 0 {
		return nil, 0
	}
	b := buf[:k]
	v := c.s.v
	if _, err := v.m.ReadAt(b, c.off); err != nil {
		if err == io.EOF {
			// Size shrank since the scan started.
			err = v.pastSize(c.op, c.first, c.end-c.first)
		} else {
			err = fmt.Errorf("%s (%d bytes) at offset %d: %w", c.op, c.end-c.first, c.first, err)
		}
		c.s.fail(err)
		c.end = c.off
		return nil, 0
	}
	if v.kind != littleEndian {
		v.toLittle(b, c.size)
	}
	off := c.off
	c.off += k
	return b, off
}

// toLittle rewrites each size-byte value of b, stored in the accessor's
// byte order, in little endian, so that one loop serves every order.
func (v *ViewAccessor) toLittle(b []byte, size int) {
	if v.kind == customOrder {
		// A value passed to an interface method escapes: decode from a
		// copy, so that b (the scan's stack buffer) does not.
		t := make([]byte, len(b))
		copy(t, b)
		for i := 0; i+size <= len(b); i += size {
			switch size {
			case 2:
				binary.LittleEndian.PutUint16(b[i:], v.custom.Uint16(t[i:]))
			case 4:
				binary.LittleEndian.PutUint32(b[i:], v.custom.Uint32(t[i:]))
			case 8:
				binary.LittleEndian.PutUint64(b[i:], v.custom.Uint64(t[i:]))
			}
		}
		return
	}
	for i := 0; i+size <= len(b); i += size {
		switch size {
		case 2:
			binary.LittleEndian.PutUint16(b[i:], binary.BigEndian.Uint16(b[i:]))
		case 4:
			binary.LittleEndian.PutUint32(b[i:], binary.BigEndian.Uint32(b[i:]))
		case 8:
			binary.LittleEndian.PutUint64(b[i:], binary.BigEndian.Uint64(b[i:]))
		}
	}
}

// Uint16s returns an iterator over the n uint16 values stored from offset
// off on, 2 bytes each in the accessor's byte order: it yields each value
// with its offset, in order. [off, off+2*n) must lie within [Start, Size)
// when the scan starts; otherwise it yields nothing, and Err reports an
// error matching [chunkmap.ErrOutOfRange]. A scan of n = 0 values yields
// nothing.
//
// The values are copied a piece of 2 KiB at a time, each piece with one
// fault-guarded [ViewAccessor.ReadAt], ahead of the loop body: a store to a
// value not yet yielded may or may not be seen. A piece that cannot be read
// (Size shrank below it, the Manager was closed, its chunk file was
// truncated from outside: ErrOutOfRange, ErrClosed, ErrFault) ends the
// scan, with the error in Err; the values yielded before it are correct.
// Nothing is held while the loop body runs.
func (s *Scanner) Uint16s(off int64, n int) iter.Seq2[int64, uint16] {
	return func(yield func(int64, uint16) bool) {
		var buf [scanPiece]byte
		c := s.start("scan uint16s", off, n, 2)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 8; b, o = b[8:], o+8 {
				if !yield(o, binary.LittleEndian.Uint16(b[0:2])) {
					return
				}
				if !yield(o+2, binary.LittleEndian.Uint16(b[2:4])) {
					return
				}
				if !yield(o+4, binary.LittleEndian.Uint16(b[4:6])) {
					return
				}
				if !yield(o+6, binary.LittleEndian.Uint16(b[6:8])) {
					return
				}
			}
			for ; len(b) >= 2; b, o = b[2:], o+2 {
				if !yield(o, binary.LittleEndian.Uint16(b)) {
					return
				}
			}
		}
	}
}

// Int16s is [Scanner.Uint16s] for int16 values.
func (s *Scanner) Int16s(off int64, n int) iter.Seq2[int64, int16] {
	return func(yield func(int64, int16) bool) {
		var buf [scanPiece]byte
		c := s.start("scan int16s", off, n, 2)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 8; b, o = b[8:], o+8 {
				if !yield(o, int16(binary.LittleEndian.Uint16(b[0:2]))) {
					return
				}
				if !yield(o+2, int16(binary.LittleEndian.Uint16(b[2:4]))) {
					return
				}
				if !yield(o+4, int16(binary.LittleEndian.Uint16(b[4:6]))) {
					return
				}
				if !yield(o+6, int16(binary.LittleEndian.Uint16(b[6:8]))) {
					return
				}
			}
			for ; len(b) >= 2; b, o = b[2:], o+2 {
				if !yield(o, int16(binary.LittleEndian.Uint16(b))) {
					return
				}
			}
		}
	}
}

// Uint32s is [Scanner.Uint16s] for uint32 values, 4 bytes each.
func (s *Scanner) Uint32s(off int64, n int) iter.Seq2[int64, uint32] {
	return func(yield func(int64, uint32) bool) {
		var buf [scanPiece]byte
		c := s.start("scan uint32s", off, n, 4)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 16; b, o = b[16:], o+16 {
				if !yield(o, binary.LittleEndian.Uint32(b[0:4])) {
					return
				}
				if !yield(o+4, binary.LittleEndian.Uint32(b[4:8])) {
					return
				}
				if !yield(o+8, binary.LittleEndian.Uint32(b[8:12])) {
					return
				}
				if !yield(o+12, binary.LittleEndian.Uint32(b[12:16])) {
					return
				}
			}
			for ; len(b) >= 4; b, o = b[4:], o+4 {
				if !yield(o, binary.LittleEndian.Uint32(b)) {
					return
				}
			}
		}
	}
}

// Int32s is [Scanner.Uint16s] for int32 values, 4 bytes each.
func (s *Scanner) Int32s(off int64, n int) iter.Seq2[int64, int32] {
	return func(yield func(int64, int32) bool) {
		var buf [scanPiece]byte
		c := s.start("scan int32s", off, n, 4)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 16; b, o = b[16:], o+16 {
				if !yield(o, int32(binary.LittleEndian.Uint32(b[0:4]))) {
					return
				}
				if !yield(o+4, int32(binary.LittleEndian.Uint32(b[4:8]))) {
					return
				}
				if !yield(o+8, int32(binary.LittleEndian.Uint32(b[8:12]))) {
					return
				}
				if !yield(o+12, int32(binary.LittleEndian.Uint32(b[12:16]))) {
					return
				}
			}
			for ; len(b) >= 4; b, o = b[4:], o+4 {
				if !yield(o, int32(binary.LittleEndian.Uint32(b))) {
					return
				}
			}
		}
	}
}

// Float32s is [Scanner.Uint16s] for float32 values, 4 bytes each.
func (s *Scanner) Float32s(off int64, n int) iter.Seq2[int64, float32] {
	return func(yield func(int64, float32) bool) {
		var buf [scanPiece]byte
		c := s.start("scan float32s", off, n, 4)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 16; b, o = b[16:], o+16 {
				if !yield(o, math.Float32frombits(binary.LittleEndian.Uint32(b[0:4]))) {
					return
				}
				if !yield(o+4, math.Float32frombits(binary.LittleEndian.Uint32(b[4:8]))) {
					return
				}
				if !yield(o+8, math.Float32frombits(binary.LittleEndian.Uint32(b[8:12]))) {
					return
				}
				if !yield(o+12, math.Float32frombits(binary.LittleEndian.Uint32(b[12:16]))) {
					return
				}
			}
			for ; len(b) >= 4; b, o = b[4:], o+4 {
				if !yield(o, math.Float32frombits(binary.LittleEndian.Uint32(b))) {
					return
				}
			}
		}
	}
}

// Uint64s is [Scanner.Uint16s] for uint64 values, 8 bytes each.
func (s *Scanner) Uint64s(off int64, n int) iter.Seq2[int64, uint64] {
	return func(yield func(int64, uint64) bool) {
		var buf [scanPiece]byte
		c := s.start("scan uint64s", off, n, 8)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 32; b, o = b[32:], o+32 {
				if !yield(o, binary.LittleEndian.Uint64(b[0:8])) {
					return
				}
				if !yield(o+8, binary.LittleEndian.Uint64(b[8:16])) {
					return
				}
				if !yield(o+16, binary.LittleEndian.Uint64(b[16:24])) {
					return
				}
				if !yield(o+24, binary.LittleEndian.Uint64(b[24:32])) {
					return
				}
			}
			for ; len(b) >= 8; b, o = b[8:], o+8 {
				if !yield(o, binary.LittleEndian.Uint64(b)) {
					return
				}
			}
		}
	}
}

// Int64s is [Scanner.Uint16s] for int64 values, 8 bytes each.
func (s *Scanner) Int64s(off int64, n int) iter.Seq2[int64, int64] {
	return func(yield func(int64, int64) bool) {
		var buf [scanPiece]byte
		c := s.start("scan int64s", off, n, 8)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 32; b, o = b[32:], o+32 {
				if !yield(o, int64(binary.LittleEndian.Uint64(b[0:8]))) {
					return
				}
				if !yield(o+8, int64(binary.LittleEndian.Uint64(b[8:16]))) {
					return
				}
				if !yield(o+16, int64(binary.LittleEndian.Uint64(b[16:24]))) {
					return
				}
				if !yield(o+24, int64(binary.LittleEndian.Uint64(b[24:32]))) {
					return
				}
			}
			for ; len(b) >= 8; b, o = b[8:], o+8 {
				if !yield(o, int64(binary.LittleEndian.Uint64(b))) {
					return
				}
			}
		}
	}
}

// Float64s is [Scanner.Uint16s] for float64 values, 8 bytes each.
func (s *Scanner) Float64s(off int64, n int) iter.Seq2[int64, float64] {
	return func(yield func(int64, float64) bool) {
		var buf [scanPiece]byte
		c := s.start("scan float64s", off, n, 8)
		for b, o := c.next(buf[:]); b != nil; b, o = c.next(buf[:]) {
			for ; len(b) >= 32; b, o = b[32:], o+32 {
				if !yield(o, math.Float64frombits(binary.LittleEndian.Uint64(b[0:8]))) {
					return
				}
				if !yield(o+8, math.Float64frombits(binary.LittleEndian.Uint64(b[8:16]))) {
					return
				}
				if !yield(o+16, math.Float64frombits(binary.LittleEndian.Uint64(b[16:24]))) {
					return
				}
				if !yield(o+24, math.Float64frombits(binary.LittleEndian.Uint64(b[24:32]))) {
					return
				}
			}
			for ; len(b) >= 8; b, o = b[8:], o+8 {
				if !yield(o, math.Float64frombits(binary.LittleEndian.Uint64(b))) {
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
// nothing, and Err reports an error matching [chunkmap.ErrOutOfRange].
//
// Each block is yielded from inside a [chunkmap.Manager.Batch] that holds
// its chunk (so a Close called from the loop body returns ErrBusy, and
// closes the Manager all the same), after every page of the block has been
// touched under the Batch's fault guard: a chunk file truncated from
// outside before the scan reaches it ends the scan with ErrFault in Err. A
// fault while the loop body itself reads a block (the file truncated in
// that very step) panics in the loop body with an error matching
// [chunkmap.ErrFault]: Go does not let an iterator turn its loop body's
// panic into an error.
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
	mask := s.v.m.ChunkSize() - 1
	for o, end := off, off+n; o < end; {
		k := min(end-o, mask+1-o&mask)
		more, err := s.block(o, int(k), yield)
		if err != nil {
			s.fail(fmt.Errorf("%s (%d bytes) at offset %d: %w", op, n, off, err))
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
	err = s.v.m.Batch(func(b *chunkmap.Batch) error {
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
		panic(fmt.Errorf("scan blocks: the loop body faulted on the block of %d bytes at offset %d: %w", k, off, err))
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
