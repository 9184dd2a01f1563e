package fuzz

// This file holds FuzzBatch: FuzzOps's operations with batches between
// them, whose accesses, and the calls their functions make, are checked
// against the model one by one.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// Operations inside a batch; each is its code (the byte modulo numBatchOps)
// followed by its arguments.
const (
	bBytes        = iota // Batch.Bytes, compared with the model
	bWritable            // Batch.WritableBytes, filled with a pattern
	bHold                // Batch.Hold
	bHoldWritable        // Batch.HoldWritable
	bReadTyped           // an accessor Batch's typed read
	bWriteTyped          // an accessor Batch's typed write
	bCall                // one of the Manager's calls that do not reopen (see batchCalls)
	bClose               // Manager.Close from inside the function
	bPanic               // the function panics
	numBatchOps
)

// batchCalls are the operations of FuzzOps a batch's function may run on
// its Manager: all but those that reopen it or open another beside it, after
// which the batch's Manager and the model's would be two.
var batchCalls = [...]byte{opWriteAt, opReadAt, opAppend, opWriteTyped, opReadTyped, opGrow, opTruncate, opDropBefore, opSync}

// batchPanic is what a bPanic's function panics with.
type batchPanic struct{ gen int }

// FuzzBatch runs FuzzOps's operations and batches on a Manager and the model
// side by side. The input is FuzzOps's header byte, then steps: a byte whose
// low two bits are 0 runs one operation of FuzzOps (its code and arguments
// follow), any other a batch of 1+(next byte)%16 operations (see bBytes...).
// Every access a batch makes is compared with the model when it is made:
// the bytes Bytes returns, the class of every error, a typed value in
// either byte order (the machine's takes the inlined fast path). Between
// steps, FuzzOps's checks of Size, Start and Stats run, MaxMapped among
// them: a batch's holds end with it, also when its function panics; and
// the Batch of the last batch, used after its function returned, reports
// ErrClosed and changes nothing.
func FuzzBatch(f *testing.F) {
	for _, s := range batchSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		runBatchOps(t, in)
	})
}

func runBatchOps(t *testing.T, in []byte) {
	r, d := startOps(t, in)
	var stale batchHandles
	for ops := 0; d.more() && ops < maxOps; ops++ {
		r.gen++
		if c := d.byte(); c&3 == 0 {
			r.step(d)
		} else {
			stale = r.batch(d)
		}
		r.checkState()
		r.checkStale(stale)
	}
	r.finish()
}

// batchHandles are a batch's Batch and accessor Batches, kept past its
// end to be misused.
type batchHandles struct {
	b      *chunkmap.Batch
	native *accessor.Batch
}

// batch runs one batch of the operations d spells and returns its handles.
func (r *opsRun) batch(d *decoder) (h batchHandles) {
	k := 1 + int(d.byte()%16)
	m := r.m
	r.logf("Batch(%d operations) {", k)
	defer r.logf("}")
	pinnedBefore := m.Stats().Pinned
	closedBefore := r.mod.closed
	wantPanic := false
	var closeErr error
	closed := false
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				if bp, ok := p.(batchPanic); !ok || bp.gen != r.gen || !wantPanic {
					r.fatalf("Batch: panic %v, want none", p)
				}
				err = nil
			}
		}()
		return m.Batch(func(b *chunkmap.Batch) error {
			h.b = b
			return accessor.New(m, binary.NativeEndian).Batch(func(native *accessor.Batch) error {
				h.native = native
				return accessor.New(m, otherOrder()).Batch(func(other *accessor.Batch) error {
					for range k {
						op := d.byte() % numBatchOps
						switch op {
						case bPanic:
							r.logf("panic")
							wantPanic = true
							panic(batchPanic{gen: r.gen})
						case bClose:
							r.logf("Close")
							closeErr = m.Close()
							if !r.mod.closed {
								if err := r.mod.Close(); err != nil {
									r.fatalf("model Close: %v", err)
								}
								for _, p := range r.pins {
									if p.owner == m {
										p.valid = false
									}
								}
								if !errors.Is(closeErr, chunkmap.ErrBusy) {
									r.fatalf("Close inside a Batch = %v, want ErrBusy", closeErr)
								}
								closed = true
							} else if !errors.Is(closeErr, chunkmap.ErrClosed) {
								r.fatalf("Close inside a Batch after Close = %v, want ErrClosed", closeErr)
							}
						case bCall:
							call := batchCalls[int(d.byte())%len(batchCalls)]
							r.stepOp(call, d)
						default:
							r.batchAccess(op, d, b, native, other)
						}
					}
					return nil
				})
			})
		})
	}()
	switch {
	case closedBefore:
		// A closed Manager runs no batch: the function's operations
		// were not read, and decode as the next steps.
		if !errors.Is(err, chunkmap.ErrClosed) || h.b != nil {
			r.fatalf("Batch on a closed Manager = %v (function run: %v), want ErrClosed", err, h.b != nil)
		}
	case err != nil:
		r.fatalf("Batch = %v, want nil", err)
	}
	if closed {
		r.logf("(closed inside the batch: %v)", closeErr)
	}
	if st := m.Stats(); !r.mod.closed && st.Pinned > pinnedBefore {
		r.fatalf("after the batch, Stats().Pinned = %d, want at most the %d before it", st.Pinned, pinnedBefore)
	}
	return h
}

// otherOrder is the byte order that is not the machine's.
func otherOrder() binary.ByteOrder {
	var x [2]byte
	binary.NativeEndian.PutUint16(x[:], 1)
	if x[0] == 1 {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// batchAccess runs one access of a batch on b (or an accessor Batch over the
// same Manager, in the machine's order or the other) and checks it against
// the model.
func (r *opsRun) batchAccess(op byte, d *decoder, b *chunkmap.Batch, native, other *accessor.Batch) {
	mod := r.mod
	switch op {
	case bBytes, bWritable:
		off, n := r.off(d), length(d)
		write := op == bWritable
		r.logf("Bytes(%d, %d bytes, writable %v)", off, n, write)
		var p []byte
		var err error
		if write {
			p, err = b.WritableBytes(off, n)
		} else {
			p, err = b.Bytes(off, n)
		}
		want := mod.Pin(off, n, write)
		r.checkErr(fmt.Sprintf("Bytes(%d, %d bytes, writable %v)", off, n, write), err, want)
		if err != nil {
			return
		}
		if len(p) != n {
			r.fatalf("Bytes(%d, %d bytes) returned %d bytes", off, n, len(p))
		}
		if i := firstDiff(p, mod.data[off:off+int64(n)]); i >= 0 {
			r.fatalf("Bytes(%d, %d bytes): byte at offset %d = %#x, want %#x", off, n, off+int64(i), p[i], mod.data[off+int64(i)])
		}
		if write {
			r.pattern(p)
			copy(mod.data[off:], p)
		}

	case bHold, bHoldWritable:
		// The target: b, or one of the accessor Batches, each a batch of
		// its own whose typed calls a hold points at the range.
		target := d.byte() % 3
		off, n := r.off(d), length(d)
		write := op == bHoldWritable
		r.logf("Hold(%d, %d bytes, writable %v) on batch %d", off, n, write, target)
		hold, holdW := b.Hold, b.HoldWritable
		switch target {
		case 1:
			hold, holdW = native.Hold, native.HoldWritable
		case 2:
			hold, holdW = other.Hold, other.HoldWritable
		}
		var err error
		if write {
			err = holdW(off, int64(n))
		} else {
			err = hold(off, int64(n))
		}
		r.checkErr(fmt.Sprintf("Hold(%d, %d bytes, writable %v) on batch %d", off, n, write, target), err, mod.Pin(off, n, write))

	case bReadTyped, bWriteTyped:
		kb := d.byte()
		k := batchTypedKind(kb)
		bt, order := native, binary.ByteOrder(binary.NativeEndian)
		if kb&0x80 != 0 {
			bt, order = other, otherOrder()
		}
		off := r.typedOff(d)
		write := op == bWriteTyped
		r.logf("Batch typed(%s at %d, %v, write %v)", k.name, off, order, write)
		want := mod.Pin(off, k.w, write)
		var buf [8]byte
		if write {
			x := (uint64(r.gen)*0x9e3779b97f4a7c15 + uint64(off)) | k.nan
			err := k.write(bt, off, x)
			r.checkErr(fmt.Sprintf("Batch Write%s(%d)", k.name, off), err, want)
			if err == nil {
				k.put(order, buf[:], x)
				copy(mod.data[off:], buf[:k.w])
			}
			return
		}
		got, err := k.read(bt, off)
		r.checkErr(fmt.Sprintf("Batch Read%s(%d)", k.name, off), err, want)
		if err != nil {
			return
		}
		copy(buf[:], mod.data[off:off+int64(k.w)])
		if wantX := k.get(order, buf[:]); got != wantX {
			r.fatalf("Batch Read%s(%d) %v = %#x, want %#x", k.name, off, order, got, wantX)
		}
	}
}

// typedOp is one typed call of an accessor Batch: reads return, and writes
// take, the value's bits in the low bits of a uint64.
type typedOp struct {
	name  string
	w     int
	nan   uint64 // bits a write sets in its value: a float's are a NaN's or an infinity's
	read  func(bt *accessor.Batch, off int64) (uint64, error)
	write func(bt *accessor.Batch, off int64, x uint64) error
}

// put encodes the w low bytes of x in order, as write stores them.
func (k typedOp) put(order binary.ByteOrder, b []byte, x uint64) {
	switch k.w {
	case 1:
		b[0] = byte(x)
	case 2:
		order.PutUint16(b, uint16(x))
	case 4:
		order.PutUint32(b, uint32(x))
	default:
		order.PutUint64(b, x)
	}
}

// get decodes what read returns from the w bytes of b in order.
func (k typedOp) get(order binary.ByteOrder, b []byte) uint64 {
	switch k.w {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(order.Uint16(b))
	case 4:
		return uint64(order.Uint32(b))
	}
	return order.Uint64(b)
}

// typedOps are the typed calls a batch may make: every width, signed and
// unsigned, and both floats, whose bits must pass unchanged (a NaN's
// payload included).
var typedOps = [...]typedOp{
	{"Uint8", 1, 0, func(bt *accessor.Batch, off int64) (uint64, error) {
		v, err := bt.ReadUint8(off)
		return uint64(v), err
	},
		func(bt *accessor.Batch, off int64, x uint64) error { return bt.WriteUint8(off, uint8(x)) }},
	{"Int16", 2, 0, func(bt *accessor.Batch, off int64) (uint64, error) {
		v, err := bt.ReadInt16(off)
		return uint64(uint16(v)), err
	},
		func(bt *accessor.Batch, off int64, x uint64) error { return bt.WriteInt16(off, int16(x)) }},
	{"Uint32", 4, 0, func(bt *accessor.Batch, off int64) (uint64, error) {
		v, err := bt.ReadUint32(off)
		return uint64(v), err
	},
		func(bt *accessor.Batch, off int64, x uint64) error { return bt.WriteUint32(off, uint32(x)) }},
	{"Uint64", 8, 0, func(bt *accessor.Batch, off int64) (uint64, error) { return bt.ReadUint64(off) },
		func(bt *accessor.Batch, off int64, x uint64) error { return bt.WriteUint64(off, x) }},
	{"Int8", 1, 0, func(bt *accessor.Batch, off int64) (uint64, error) {
		v, err := bt.ReadInt8(off)
		return uint64(uint8(v)), err
	},
		func(bt *accessor.Batch, off int64, x uint64) error { return bt.WriteInt8(off, int8(x)) }},
	{"Uint16", 2, 0, func(bt *accessor.Batch, off int64) (uint64, error) {
		v, err := bt.ReadUint16(off)
		return uint64(v), err
	},
		func(bt *accessor.Batch, off int64, x uint64) error { return bt.WriteUint16(off, uint16(x)) }},
	{"Float32", 4, 0x7f80_0000, func(bt *accessor.Batch, off int64) (uint64, error) {
		v, err := bt.ReadFloat32(off)
		return uint64(math.Float32bits(v)), err
	}, func(bt *accessor.Batch, off int64, x uint64) error {
		return bt.WriteFloat32(off, math.Float32frombits(uint32(x)))
	}},
	{"Float64", 8, 0x7ff0_0000_0000_0000, func(bt *accessor.Batch, off int64) (uint64, error) {
		v, err := bt.ReadFloat64(off)
		return math.Float64bits(v), err
	}, func(bt *accessor.Batch, off int64, x uint64) error {
		return bt.WriteFloat64(off, math.Float64frombits(x))
	}},
}

// batchTypedKind decodes the typed call of a batch's typed operation from
// its low three bits; bit 7 picks the order that is not the machine's.
func batchTypedKind(b byte) typedOp { return typedOps[b&7] }

// checkStale uses the handles of the last batch, whose function returned:
// every call reports ErrClosed, and nothing is stored.
func (r *opsRun) checkStale(h batchHandles) {
	if h.b == nil {
		return
	}
	off := r.mod.start
	if _, err := h.b.Bytes(off, 1); !errors.Is(err, chunkmap.ErrClosed) {
		r.fatalf("Bytes on an ended Batch = %v, want ErrClosed", err)
	}
	if _, err := h.b.WritableBytes(off, 1); !errors.Is(err, chunkmap.ErrClosed) {
		r.fatalf("WritableBytes on an ended Batch = %v, want ErrClosed", err)
	}
	if err := h.b.Hold(off, 1); !errors.Is(err, chunkmap.ErrClosed) {
		r.fatalf("Hold on an ended Batch = %v, want ErrClosed", err)
	}
	if h.native != nil {
		if _, err := h.native.ReadUint64(off); !errors.Is(err, chunkmap.ErrClosed) {
			r.fatalf("ReadUint64 on an ended accessor Batch = %v, want ErrClosed", err)
		}
		if err := h.native.WriteUint64(off, 0xdead); !errors.Is(err, chunkmap.ErrClosed) {
			r.fatalf("WriteUint64 on an ended accessor Batch = %v, want ErrClosed", err)
		}
	}
}

// Helpers that spell FuzzBatch inputs for the seeds.

// outer spells a step that runs one operation of FuzzOps.
func outer(parts ...any) []byte { return append([]byte{0}, seed(1, parts...)[1:]...) }

// batchOf spells a step that runs a batch of the operations given, each a
// code and its arguments.
func batchOf(ops ...[]byte) []byte {
	b := []byte{1, byte(len(ops) - 1)}
	for _, op := range ops {
		b = append(b, op...)
	}
	return b
}

// btyped spells the kind and offset of a batch's typed operation: typedOps[k],
// in the order that is not the machine's with other, at delta bytes from
// the start of chunk c (c == 16: from Size).
func btyped(k int, other bool, c byte, delta int) []byte {
	b := byte(k)
	if other {
		b |= 0x80
	}
	return []byte{b, c, byte(int8(delta))}
}

// Indexes of typedOps for the seeds.
const (
	tUint8 = iota
	tInt16
	tUint32
	tUint64
	tInt8
	tUint16
	tFloat32
	tFloat64
)

// bop spells one operation of a batch.
func bop(parts ...any) []byte { return seed(1, parts...)[1:] }

// callOf spells bCall running the FuzzOps operation op (one of batchCalls).
func callOf(op byte, parts ...any) []byte {
	return bop(append([]any{bCall, batchCall(op, "a batch")}, parts...)...)
}

// batchCall returns the index in batchCalls of op, which a seed runs in
// where (a batch, a scan's body).
func batchCall(op byte, where string) int {
	for i, c := range batchCalls {
		if c == op {
			return i
		}
	}
	panic(fmt.Sprintf("operation %d may not run in %s", op, where))
}

// join is the input of steps one after another, for the seeds.
func join(steps ...[]byte) []byte {
	var b []byte
	for _, s := range steps {
		b = append(b, s...)
	}
	return b
}

// batchSeeds are inputs that start the fuzzer at the interesting places of
// a batch: chunk edges, Size and Start, holds beyond MaxMapped, shrinks and
// Close from inside the function, a panic, a tiny arena.
func batchSeeds() [][]byte {
	return [][]byte{
		// Reads and writes across a chunk edge and at Size, typed ones in
		// both orders, then read back outside the batch.
		join([]byte{1}, outer(opWriteAt, mid(0, 63), big(127)),
			batchOf(bop(bBytes, edge(1, -5), 10), bop(bReadTyped, btyped(tUint64, false, 1, -3)), bop(bReadTyped, btyped(tUint64, true, 1, -4)),
				bop(bWritable, edge(1, -3), 6), bop(bBytes, nearSize(-3), 10), bop(bBytes, nearSize(0), 0),
				bop(bWriteTyped, btyped(tUint32, false, 1, -2)), bop(bWriteTyped, btyped(tUint64, true, 1, -5)), bop(bReadTyped, btyped(tUint16, false, 1, -1))),
			outer(opReadAt, edge(1, -8), 20)),
		// Holds over more chunks than MaxMapped, then typed accesses within
		// them; the bound holds again after the batch.
		join([]byte{0}, outer(opWriteAt, mid(0, 0), big(127)), outer(opWriteAt, mid(2, 0), big(127)),
			batchOf(bop(bHold, 1, edge(0, 0), big(127)), bop(bReadTyped, btyped(tUint64, false, 1, 0)), bop(bReadTyped, btyped(tUint32, false, 0, 8)),
				bop(bHoldWritable, 1, mid(2, 0), big(100)), bop(bWriteTyped, btyped(tUint64, false, 3, -4)), bop(bReadTyped, btyped(tUint64, false, 3, -4)),
				bop(bBytes, edge(2, -16), 32), bop(bHold, 1, nearSize(1), 1)),
			outer(opReadAt, edge(3, -8), 16)),
		// A Truncate and a WriteAt from inside the function: the batch sees
		// the dataset as it is after each.
		join([]byte{1}, outer(opWriteAt, mid(2, 0), 100),
			batchOf(bop(bBytes, mid(2, 0), 50), join(callOf(opTruncate, edge(1, 5))), bop(bBytes, mid(2, 0), 50),
				bop(bReadTyped, btyped(tUint64, false, 1, 0)), bop(bReadTyped, btyped(tUint32, false, 1, 1)),
				join(callOf(opWriteAt, mid(2, 0), 40)), bop(bBytes, mid(2, 0), 40), bop(bBytes, edge(1, 0), 10),
				bop(bWritable, edge(1, 2), 8))),
		// A DropBefore from inside the function: below Start is out of range.
		join([]byte{2}, outer(opWriteAt, mid(3, 0), 100),
			batchOf(bop(bHold, 0, edge(1, 0), big(70)), bop(bBytes, edge(1, 0), 8), join(callOf(opDropBefore, mid(2, 1))),
				bop(bBytes, edge(1, 0), 8), bop(bReadTyped, btyped(tUint64, false, 1, 0)), bop(bBytes, nearStart(0), 16),
				bop(bWriteTyped, btyped(tUint64, false, 2, 0)))),
		// Close from inside the function, the batch's calls after it, and
		// a reopen.
		join([]byte{1}, outer(opWriteAt, edge(1, -5), 10),
			batchOf(bop(bBytes, edge(1, -5), 10), bop(bClose), bop(bBytes, edge(1, -5), 10), bop(bReadTyped, btyped(tUint64, false, 1, -5)),
				bop(bWriteTyped, btyped(tUint64, false, 1, -5)), bop(bHold, 1, edge(1, 0), 1), bop(bClose)),
			outer(opReopen, 0), outer(opReadAt, edge(1, -5), 10)),
		// A panic after holds and stores: the holds end, the stores stay.
		join([]byte{0}, outer(opWriteAt, mid(0, 0), big(127)),
			batchOf(bop(bHoldWritable, 1, edge(0, 0), big(127)), bop(bWritable, edge(1, -4), 8), bop(bWriteTyped, btyped(tUint64, false, 0, 16)), bop(bPanic)),
			outer(opReadAt, edge(1, -8), 16), outer(opSync), outer(opReopen, 0), outer(opReadAt, edge(0, 8), 16)),
		// A one-chunk arena: a batch across chunks holds views.
		join([]byte{0x20}, outer(opWriteAt, mid(0, 0), big(127)),
			batchOf(bop(bBytes, edge(1, -8), 16), bop(bReadTyped, btyped(tUint64, false, 1, -3)), bop(bHold, 1, edge(0, 0), big(127)),
				bop(bWritable, edge(1, -8), 16), bop(bReadTyped, btyped(tUint64, false, 0, 0)), bop(bReadTyped, btyped(tUint64, false, 1, 0))),
			batchOf(bop(bReadTyped, btyped(tUint64, false, 1, -8))), outer(opReadAt, edge(1, -8), 16)),
		// Every typed kind in the machine's order within a window the
		// accessor Batch holds (two stores in one chunk, the last bytes
		// before Size, floats with NaN bits), then the other order.
		join([]byte{1}, outer(opWriteAt, mid(0, 0), big(127)),
			batchOf(bop(bHoldWritable, 1, edge(0, 0), big(127)), bop(bWriteTyped, btyped(tUint64, false, 0, 8)),
				bop(bWriteTyped, btyped(tFloat64, false, 0, 24)), bop(bReadTyped, btyped(tFloat64, false, 0, 24)),
				bop(bWriteTyped, btyped(tFloat32, false, 1, -3)), bop(bReadTyped, btyped(tFloat32, false, 1, -3)),
				bop(bWriteTyped, btyped(tInt16, false, 1, -1)), bop(bReadTyped, btyped(tUint8, false, 16, -1)),
				bop(bWriteTyped, btyped(tInt8, false, 16, -1)), bop(bReadTyped, btyped(tInt8, false, 16, -1)),
				bop(bReadTyped, btyped(tUint64, false, 16, -8)), bop(bReadTyped, btyped(tUint64, false, 16, -7)),
				bop(bWriteTyped, btyped(tUint32, true, 0, 40)), bop(bReadTyped, btyped(tUint32, false, 0, 40)),
				bop(bReadTyped, btyped(tUint16, true, 1, -1))),
			outer(opReadAt, mid(0, 0), 64)),
		// A Truncate from inside the function over chunks whose window the
		// typed calls hold: they must see it, and the chunks made again.
		join([]byte{1}, outer(opWriteAt, mid(3, 0), 100),
			batchOf(bop(bHoldWritable, 1, edge(2, 0), big(127)), bop(bReadTyped, btyped(tUint64, false, 3, 3)),
				bop(bWriteTyped, btyped(tUint64, false, 3, 8)), callOf(opTruncate, edge(2, 5)),
				bop(bReadTyped, btyped(tUint64, false, 3, 3)), bop(bWriteTyped, btyped(tUint64, false, 3, 8)),
				bop(bReadTyped, btyped(tUint16, false, 2, 3)), callOf(opWriteAt, mid(3, 0), 100),
				bop(bReadTyped, btyped(tUint64, false, 3, 3)), bop(bReadTyped, btyped(tUint64, false, 3, 8)),
				bop(bWriteTyped, btyped(tFloat64, false, 2, 16)), bop(bReadTyped, btyped(tFloat64, false, 2, 16)))),
	}
}
