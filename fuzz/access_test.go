package fuzz

// This file holds FuzzAccess: FuzzOps's operations with the calls between
// them that FuzzOps and FuzzBatch leave out, each checked against the model
// when it is made: Gather and Scatter, the atomics, and the accessor's bulk,
// gather, scatter, Slice and scan calls.

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// Operations of FuzzAccess besides FuzzOps's; each is its code (the step
// byte's upper bits modulo numAccessOps) followed by its arguments.
const (
	aGather       = iota // Manager.Gather of up to 8 values
	aScatter             // Manager.Scatter of up to 8 values
	aAtomic              // Load, Store, Add or CompareAndSwap of 32 or 64 bits
	aBulkRead            // an accessor's ReadUint16s ... ReadFloat64s
	aBulkWrite           // an accessor's WriteUint16s ... WriteFloat64s
	aGatherTyped         // ReadUint32sAt or ReadUint64sAt, in either order
	aScatterTyped        // WriteUint32sAt or WriteUint64sAt, in either order
	aSlice               // an accessor's Slice, written through when writable
	aScanValues          // a typed scan, which may break early or reuse a failed Scanner
	aScanBlocks          // a block scan, whose body may run one of batchCalls
	numAccessOps
)

// maxGather bounds the values of one gather or scatter.
const maxGather = 8

// FuzzAccess runs FuzzOps's operations and the calls above on a Manager and
// the model side by side. The input is FuzzOps's header byte, then steps: a
// byte whose low two bits are 0 runs one operation of FuzzOps (its code and
// arguments follow), any other the access its upper bits name (see
// aGather...). Every value an access returns is compared with the model, and
// the class of every error; what the writing ones store is read back by the
// later steps and by FuzzOps's final comparison. The values lie near chunk
// edges, Start and Size, so that they straddle chunks and the range's ends;
// the tiny arenas of the header make the atomics and gathers meet chunks
// whose slots change owner.
func FuzzAccess(f *testing.F) {
	for _, s := range accessSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		runAccessOps(t, in)
	})
}

// accessRun is one execution of FuzzAccess.
type accessRun struct {
	*opsRun
	// sc is the Scanner of the last typed scan, over scOwner, which a
	// later scan may reuse: once it holds an error, it yields nothing.
	sc      *accessor.Scanner
	scOwner *chunkmap.Manager
	scOrder binary.ByteOrder
	scErr   error // sc's error, as the model expects it
}

func runAccessOps(t *testing.T, in []byte) {
	or, d := startOps(t, in)
	r := &accessRun{opsRun: or}
	for ops := 0; d.more() && ops < maxOps; ops++ {
		r.gen++
		if c := d.byte(); c&3 == 0 {
			r.step(d)
		} else {
			r.access((c>>2)%numAccessOps, d)
		}
		r.checkState()
	}
	r.finish()
}

// gatherOffs decodes up to maxGather offsets near chunk edges or Size.
func (r *accessRun) gatherOffs(d *decoder) []int64 {
	offs := make([]int64, int(d.byte())%(maxGather+1))
	for i := range offs {
		offs[i] = r.typedOff(d)
	}
	return offs
}

// valueSize decodes the value size of a Gather or Scatter: mostly small,
// sometimes most of a chunk, and at the two ends just outside [1,
// MinChunkSize].
func valueSize(d *decoder) int {
	switch b := d.byte(); {
	case b == 0xfe:
		return 0
	case b == 0xff:
		return chunkmap.MinChunkSize + 1
	case b&0x80 != 0:
		return int(b&0x7f)*517 + 1
	default:
		return 1 + int(b%16)
	}
}

// modelGather is Gather on the model: it returns how many values it
// filled, and the error after them.
func (m *model) gather(dst []byte, offs []int64, n int) (int, error) {
	switch {
	case m.closed:
		return 0, chunkmap.ErrClosed
	case n <= 0 || n > chunkmap.MinChunkSize:
		return 0, chunkmap.ErrOutOfRange
	}
	for i, off := range offs {
		if !m.holds(off, n) {
			return i, chunkmap.ErrOutOfRange
		}
		copy(dst[i*n:], m.data[off:off+int64(n)])
	}
	return len(offs), nil
}

// scatter is Scatter on the model: it stores the values up to the first
// that does not lie within [Start, Size). A read-only Manager refuses it
// before it looks at the arguments, as every other write.
func (m *model) scatter(src []byte, offs []int64, n int) error {
	switch {
	case m.closed:
		return chunkmap.ErrClosed
	case m.readOnly:
		return chunkmap.ErrReadOnly
	case n <= 0 || n > chunkmap.MinChunkSize:
		return chunkmap.ErrOutOfRange
	}
	for i, off := range offs {
		if !m.holds(off, n) {
			return chunkmap.ErrOutOfRange
		}
		copy(m.data[off:], src[i*n:(i+1)*n])
	}
	return nil
}

// holds reports whether [off, off+n) lies within [Start, Size).
func (m *model) holds(off int64, n int) bool {
	return off >= 0 && off >= m.start && off <= m.size-int64(n)
}

// atomicErr is the error of an atomic of w bytes at off; write is set for
// one that stores.
func (m *model) atomicErr(off int64, w int, write bool) error {
	switch {
	case m.closed:
		return chunkmap.ErrClosed
	case write && m.readOnly:
		return chunkmap.ErrReadOnly
	case off < 0:
		return chunkmap.ErrOutOfRange
	case off%int64(w) != 0:
		return chunkmap.ErrUnaligned
	case !m.holds(off, w):
		return chunkmap.ErrOutOfRange
	}
	return nil
}

// bulkReadErr is the error of a bulk read of n bytes at off.
func (m *model) bulkReadErr(off int64, n int) error {
	if _, err := m.ReadAt(nil, off); err != nil || n == 0 {
		return err
	}
	if !m.holds(off, n) {
		return chunkmap.ErrOutOfRange
	}
	return nil
}

// access decodes and runs one access of FuzzAccess on both.
func (r *accessRun) access(op byte, d *decoder) {
	m, mod := r.m, r.mod
	switch op {
	case aGather:
		offs := r.gatherOffs(d)
		n := valueSize(d)
		r.logf("Gather(%v, %d)", offs, n)
		got := make([]byte, len(offs)*max(n, 0))
		want := make([]byte, len(got))
		err := m.Gather(got, offs, n)
		k, wantErr := mod.gather(want, offs, n)
		r.checkErr(fmt.Sprintf("Gather(%v, %d)", offs, n), err, wantErr)
		if i := firstDiff(got[:k*n], want[:k*n]); i >= 0 {
			r.fatalf("Gather(%v, %d): byte %d = %#x, want %#x", offs, n, i, got[i], want[i])
		}

	case aScatter:
		offs := r.gatherOffs(d)
		n := valueSize(d)
		src := make([]byte, len(offs)*max(n, 0))
		r.pattern(src)
		r.logf("Scatter(%v, %d)", offs, n)
		err := m.Scatter(src, offs, n)
		r.checkErr(fmt.Sprintf("Scatter(%v, %d)", offs, n), err, mod.scatter(src, offs, n))

	case aAtomic:
		r.atomic(d.byte(), r.typedOff(d))

	case aBulkRead, aBulkWrite:
		b := d.byte()
		k := bulkKinds[b%byte(len(bulkKinds))]
		order := binary.ByteOrder(binary.LittleEndian)
		if b&0x80 != 0 {
			order = binary.BigEndian
		}
		off := r.off(d)
		cnt := int(d.byte())
		if cnt&0x80 != 0 {
			cnt = (cnt & 0x7f) * 97
		}
		va := accessor.New(m, order)
		if op == aBulkWrite {
			if off+int64(cnt*k.w) > maxSize {
				return
			}
			p := make([]byte, cnt*k.w)
			r.pattern(p)
			r.logf("Write%s(%d, %d values) %v", k.name, off, cnt, order)
			err := k.write(va, order, off, p)
			_, wantErr := mod.WriteAt(p, off)
			r.checkErr(fmt.Sprintf("Write%s(%d, %d values)", k.name, off, cnt), err, wantErr)
			return
		}
		r.logf("Read%s(%d, %d values) %v", k.name, off, cnt, order)
		got, err := k.read(va, order, off, cnt)
		wantErr := mod.bulkReadErr(off, cnt*k.w)
		r.checkErr(fmt.Sprintf("Read%s(%d, %d values)", k.name, off, cnt), err, wantErr)
		switch {
		case err == nil && cnt > 0: // no values succeed at any offset
			if i := firstDiff(got, mod.data[off:off+int64(len(got))]); i >= 0 {
				r.fatalf("Read%s(%d, %d values): byte at offset %d = %#x, want %#x",
					k.name, off, cnt, off+int64(i), got[i], mod.data[off+int64(i)])
			}
		default:
			// A range that is not the dataset's leaves dst untouched.
			if i := firstDiff(got, make([]byte, len(got))); i >= 0 {
				r.fatalf("Read%s(%d, %d values) = %v, but it changed dst", k.name, off, cnt, err)
			}
		}

	case aGatherTyped, aScatterTyped:
		b := d.byte()
		w := 4 << (b & 1)
		order := binary.ByteOrder(binary.LittleEndian)
		if b&0x80 != 0 {
			order = binary.BigEndian
		}
		offs := r.gatherOffs(d)
		va := accessor.New(m, order)
		if op == aScatterTyped {
			src := make([]byte, len(offs)*w)
			r.pattern(src)
			r.logf("WriteUint%dsAt(%v) %v", 8*w, offs, order)
			var err error
			if w == 4 {
				vals := make([]uint32, len(offs))
				for i := range vals {
					vals[i] = order.Uint32(src[4*i:])
				}
				err = va.WriteUint32sAt(offs, vals)
			} else {
				vals := make([]uint64, len(offs))
				for i := range vals {
					vals[i] = order.Uint64(src[8*i:])
				}
				err = va.WriteUint64sAt(offs, vals)
			}
			r.checkErr(fmt.Sprintf("WriteUint%dsAt(%v) %v", 8*w, offs, order), err, mod.scatter(src, offs, w))
			return
		}
		r.logf("ReadUint%dsAt(%v) %v", 8*w, offs, order)
		got := make([]byte, len(offs)*w)
		var err error
		if w == 4 {
			vals := make([]uint32, len(offs))
			err = va.ReadUint32sAt(offs, vals)
			for i, x := range vals {
				order.PutUint32(got[4*i:], x)
			}
		} else {
			vals := make([]uint64, len(offs))
			err = va.ReadUint64sAt(offs, vals)
			for i, x := range vals {
				order.PutUint64(got[8*i:], x)
			}
		}
		want := make([]byte, len(got))
		k, wantErr := mod.gather(want, offs, w)
		r.checkErr(fmt.Sprintf("ReadUint%dsAt(%v) %v", 8*w, offs, order), err, wantErr)
		if i := firstDiff(got[:k*w], want[:k*w]); i >= 0 {
			r.fatalf("ReadUint%dsAt(%v) %v: byte %d = %#x, want %#x", 8*w, offs, order, i, got[i], want[i])
		}

	case aSlice:
		off, n := r.off(d), length(d)
		r.logf("Slice(%d, %d)", off, n)
		v, err := accessor.New(m, nil).Slice(off, n)
		r.checkErr(fmt.Sprintf("Slice(%d, %d)", off, n), err, mod.Pin(off, n, false))
		if err != nil {
			return
		}
		// A View is a pin: as after FuzzOps's pins, its chunks may stay
		// mapped past MaxMapped once released.
		r.pinsEver = true
		p := v.Bytes()
		if len(p) != n || v.Off() != off {
			r.fatalf("Slice(%d, %d): %d bytes at %d", off, n, len(p), v.Off())
		}
		if i := firstDiff(p, mod.data[off:off+int64(n)]); i >= 0 {
			r.fatalf("Slice(%d, %d): byte at offset %d = %#x, want %#x", off, n, off+int64(i), p[i], mod.data[off+int64(i)])
		}
		if !mod.readOnly {
			r.pattern(p)
			copy(mod.data[off:], p)
		}
		v.Release()
		v.Release() // idempotent
		if v.Bytes() != nil {
			r.fatalf("Slice(%d, %d): Bytes after Release is not nil", off, n)
		}

	case aScanValues:
		r.scanValues(d)

	case aScanBlocks:
		r.scanBlocks(d)
	}
}

// atomic runs the atomic b names on the word at off: Load, Store, Add or
// CompareAndSwap (by b&3), of 32 or 64 bits (by b&4), through the Manager
// or an accessor (by b&16); a CompareAndSwap expects the word's value if b&8
// is set, another otherwise.
func (r *accessRun) atomic(b byte, off int64) {
	m, mod := r.m, r.mod
	w := 4 << (b >> 2 & 1)
	kind := b & 3
	names := [4]string{"Load", "Store", "Add", "CompareAndSwap"}
	name := fmt.Sprintf("%sUint%d(%d)", names[kind], 8*w, off)
	r.logf("%s", name)
	wantErr := mod.atomicErr(off, w, kind != 0)
	var old uint64
	if wantErr == nil {
		if w == 4 {
			old = uint64(binary.NativeEndian.Uint32(mod.data[off:]))
		} else {
			old = binary.NativeEndian.Uint64(mod.data[off:])
		}
	}
	x := uint64(r.gen)*0x9e3779b97f4a7c15 + 1
	mask := uint64(math.MaxUint64)
	if w == 4 {
		mask = math.MaxUint32
		x &= mask
	}
	va := accessor.New(m, binary.NativeEndian)
	viaAccessor := b&16 != 0
	var (
		got     uint64
		swapped bool
		err     error
	)
	var want uint64
	wantSwapped, stores := false, false
	switch kind {
	case 0:
		want = old
		switch {
		case w == 4 && viaAccessor:
			var v uint32
			v, err = va.LoadUint32(off)
			got = uint64(v)
		case w == 4:
			var v uint32
			v, err = m.LoadUint32(off)
			got = uint64(v)
		case viaAccessor:
			got, err = va.LoadUint64(off)
		default:
			got, err = m.LoadUint64(off)
		}
	case 1:
		want, stores = x, true
		switch {
		case w == 4 && viaAccessor:
			err = va.StoreUint32(off, uint32(x))
		case w == 4:
			err = m.StoreUint32(off, uint32(x))
		case viaAccessor:
			err = va.StoreUint64(off, x)
		default:
			err = m.StoreUint64(off, x)
		}
		got = x
	case 2:
		want, stores = (old+x)&mask, true
		switch {
		case w == 4 && viaAccessor:
			var v uint32
			v, err = va.AddUint32(off, uint32(x))
			got = uint64(v)
		case w == 4:
			var v uint32
			v, err = m.AddUint32(off, uint32(x))
			got = uint64(v)
		case viaAccessor:
			got, err = va.AddUint64(off, x)
		default:
			got, err = m.AddUint64(off, x)
		}
	default:
		expect := old
		if b&8 == 0 {
			expect ^= 1
		}
		wantSwapped = b&8 != 0
		want, stores = old, wantSwapped
		if wantSwapped {
			want = x
		}
		switch {
		case w == 4 && viaAccessor:
			swapped, err = va.CompareAndSwapUint32(off, uint32(expect), uint32(x))
		case w == 4:
			swapped, err = m.CompareAndSwapUint32(off, uint32(expect), uint32(x))
		case viaAccessor:
			swapped, err = va.CompareAndSwapUint64(off, expect, x)
		default:
			swapped, err = m.CompareAndSwapUint64(off, expect, x)
		}
		got = want
	}
	r.checkErr(name, err, wantErr)
	if err != nil {
		return
	}
	if got != want || swapped != wantSwapped {
		r.fatalf("%s = %#x (swapped %v), want %#x (swapped %v)", name, got, swapped, want, wantSwapped)
	}
	if stores {
		if w == 4 {
			binary.NativeEndian.PutUint32(mod.data[off:], uint32(want))
		} else {
			binary.NativeEndian.PutUint64(mod.data[off:], want)
		}
	}
}

// bulkKind is one pair of an accessor's bulk calls; read returns, and write
// takes, the values encoded in the accessor's order.
type bulkKind struct {
	name  string
	w     int
	read  func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, cnt int) ([]byte, error)
	write func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, p []byte) error
}

// bulkKinds are the bulk calls the accesses make: every width, and the
// floats, whose bits (NaNs' included) must pass unchanged.
var bulkKinds = [...]bulkKind{
	{"Uint16s", 2, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, cnt int) ([]byte, error) {
		vals := make([]uint16, cnt)
		err := va.ReadUint16s(off, vals)
		p := make([]byte, 2*cnt)
		for i, x := range vals {
			order.PutUint16(p[2*i:], x)
		}
		return p, err
	}, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, p []byte) error {
		vals := make([]uint16, len(p)/2)
		for i := range vals {
			vals[i] = order.Uint16(p[2*i:])
		}
		return va.WriteUint16s(off, vals)
	}},
	{"Uint32s", 4, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, cnt int) ([]byte, error) {
		vals := make([]uint32, cnt)
		err := va.ReadUint32s(off, vals)
		p := make([]byte, 4*cnt)
		for i, x := range vals {
			order.PutUint32(p[4*i:], x)
		}
		return p, err
	}, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, p []byte) error {
		vals := make([]uint32, len(p)/4)
		for i := range vals {
			vals[i] = order.Uint32(p[4*i:])
		}
		return va.WriteUint32s(off, vals)
	}},
	{"Uint64s", 8, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, cnt int) ([]byte, error) {
		vals := make([]uint64, cnt)
		err := va.ReadUint64s(off, vals)
		p := make([]byte, 8*cnt)
		for i, x := range vals {
			order.PutUint64(p[8*i:], x)
		}
		return p, err
	}, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, p []byte) error {
		vals := make([]uint64, len(p)/8)
		for i := range vals {
			vals[i] = order.Uint64(p[8*i:])
		}
		return va.WriteUint64s(off, vals)
	}},
	{"Float32s", 4, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, cnt int) ([]byte, error) {
		vals := make([]float32, cnt)
		err := va.ReadFloat32s(off, vals)
		p := make([]byte, 4*cnt)
		for i, x := range vals {
			order.PutUint32(p[4*i:], math.Float32bits(x))
		}
		return p, err
	}, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, p []byte) error {
		vals := make([]float32, len(p)/4)
		for i := range vals {
			vals[i] = math.Float32frombits(order.Uint32(p[4*i:]))
		}
		return va.WriteFloat32s(off, vals)
	}},
	{"Float64s", 8, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, cnt int) ([]byte, error) {
		vals := make([]float64, cnt)
		err := va.ReadFloat64s(off, vals)
		p := make([]byte, 8*cnt)
		for i, x := range vals {
			order.PutUint64(p[8*i:], math.Float64bits(x))
		}
		return p, err
	}, func(va *accessor.ViewAccessor, order binary.ByteOrder, off int64, p []byte) error {
		vals := make([]float64, len(p)/8)
		for i := range vals {
			vals[i] = math.Float64frombits(order.Uint64(p[8*i:]))
		}
		return va.WriteFloat64s(off, vals)
	}},
}

// scanValues runs a typed scan of uint16, uint32 or uint64 values (by b%3),
// in either order (b&0x80), on a new Scanner or (b&0x40) the last one; the
// loop body breaks after the value the next byte names, unless it is 0xff.
// A reused Scanner that holds an error yields nothing and keeps it.
func (r *accessRun) scanValues(d *decoder) {
	m, mod := r.m, r.mod
	b := d.byte()
	w := [3]int{2, 4, 8}[b%3]
	order := binary.ByteOrder(binary.LittleEndian)
	if b&0x80 != 0 {
		order = binary.BigEndian
	}
	off := r.off(d)
	cnt := length(d)
	brk := int(d.byte())
	reuse := b&0x40 != 0 && r.sc != nil && r.scOwner == m
	if reuse {
		order = r.scOrder
	} else {
		r.sc, r.scOwner, r.scOrder, r.scErr = accessor.New(m, order).Scan(), m, order, nil
	}
	name := fmt.Sprintf("scan of %d uint%ds at %d %v (break after %d, reused %v)", cnt, 8*w, off, order, brk, reuse)
	r.logf("%s", name)
	sc, held := r.sc, r.scErr
	var got []byte
	put := func(o int64, x uint64) bool {
		if o != off+int64(len(got)) {
			r.fatalf("%s: value at offset %d, want %d", name, o, off+int64(len(got)))
		}
		var buf [8]byte
		switch w {
		case 2:
			order.PutUint16(buf[:], uint16(x))
		case 4:
			order.PutUint32(buf[:], uint32(x))
		default:
			order.PutUint64(buf[:], x)
		}
		got = append(got, buf[:w]...)
		return brk == 0xff || len(got)/w <= brk
	}
	switch w {
	case 2:
		for o, x := range sc.Uint16s(off, cnt) {
			if !put(o, uint64(x)) {
				break
			}
		}
	case 4:
		for o, x := range sc.Uint32s(off, cnt) {
			if !put(o, uint64(x)) {
				break
			}
		}
	default:
		for o, x := range sc.Uint64s(off, cnt) {
			if !put(o, uint64(x)) {
				break
			}
		}
	}
	if held != nil {
		if len(got) != 0 {
			r.fatalf("%s: a Scanner holding an error yielded %d values", name, len(got)/w)
		}
		r.checkErr(name+": the error held", sc.Err(), held)
		return
	}
	wantErr := mod.bulkReadErr(off, cnt*w)
	r.checkErr(name, sc.Err(), wantErr)
	r.scErr = wantErr
	want := 0
	switch {
	case wantErr != nil:
	case brk == 0xff:
		want = cnt
	default:
		want = min(cnt, brk+1)
	}
	if len(got) != want*w {
		r.fatalf("%s: yielded %d values, want %d", name, len(got)/w, want)
	}
	if len(got) == 0 {
		return // no values succeed at any offset
	}
	if i := firstDiff(got, mod.data[off:off+int64(len(got))]); i >= 0 {
		r.fatalf("%s: byte at offset %d = %#x, want %#x", name, off+int64(i), got[i], mod.data[off+int64(i)])
	}
}

// scanBlocks runs a block scan of the bytes a length byte spells at an
// offset; the loop body compares each block with the model and, at the
// block the next byte names, runs one of batchCalls (its code and
// arguments follow), or breaks if the byte's bit 7 is set. Each later
// block must be what the model then holds, or the scan must end with the
// error the model gives the block's range.
func (r *accessRun) scanBlocks(d *decoder) {
	m, mod := r.m, r.mod
	off, n := r.off(d), int64(length(d))
	b := d.byte()
	at := int(b & 7)
	name := fmt.Sprintf("scan of %d bytes in blocks at %d (at block %d: break %v)", n, off, at, b&0x80 != 0)
	r.logf("%s", name)
	sc := accessor.New(m, nil).Scan()
	wantErr := mod.bulkReadErr(off, int(n))
	next, end := off, off+n
	if wantErr != nil {
		end = off
	}
	i := 0
	stopped := false
	for o, p := range sc.Blocks(off, n) {
		if next >= end {
			r.fatalf("%s: a block at %d past the range's end %d", name, o, end)
		}
		k := min(end-next, chunkSize-next%chunkSize)
		if o != next || int64(len(p)) != k {
			r.fatalf("%s: block of %d bytes at %d, want %d bytes at %d", name, len(p), o, k, next)
		}
		// The model's word on this block, after whatever the body ran
		// before it.
		if err := mod.Pin(o, len(p), false); err != nil {
			r.fatalf("%s: block at %d yielded, want %v", name, o, err)
		}
		if j := firstDiff(p, mod.data[o:o+k]); j >= 0 {
			r.fatalf("%s: byte at offset %d = %#x, want %#x", name, o+int64(j), p[j], mod.data[o+int64(j)])
		}
		next += k
		if i++; i-1 == at {
			if b&0x80 != 0 {
				stopped = true
				break
			}
			r.stepOp(batchCalls[int(d.byte())%len(batchCalls)], d)
			// The scan checks each later block's range afresh: it
			// ends at the first the call took out of [Start, Size).
			for o := next; o < end; {
				k := min(end-o, chunkSize-o%chunkSize)
				if err := mod.Pin(o, int(k), false); err != nil {
					wantErr, end = err, o
					break
				}
				o += k
			}
		}
	}
	if !stopped && next != end {
		r.fatalf("%s: ended at %d, want %d", name, next, end)
	}
	r.checkErr(name, sc.Err(), wantErr)
}

// Helpers that spell FuzzAccess inputs for the seeds.

// acc spells a step that runs the access op with the arguments given.
func acc(op byte, parts ...any) []byte {
	return append([]byte{op<<2 | 1}, seed(1, parts...)[1:]...)
}

// goffs spells the offsets of a gather or scatter, each as typed spells it
// (chunk c, delta; c == 16: from Size).
func goffs(offs ...[2]int) []byte {
	b := []byte{byte(len(offs))}
	for _, o := range offs {
		b = append(b, byte(o[0]), byte(int8(o[1])))
	}
	return b
}

// tat spells the offset of an atomic: delta bytes from the start of chunk
// c (c == 16: from Size).
func tat(c byte, delta int) []byte { return []byte{c, byte(int8(delta))} }

// blockCall spells the index in batchCalls of op, for a block scan's body.
func blockCall(op byte) byte { return byte(batchCall(op, "a scan's body")) }

// accessSeeds are inputs that start the fuzzer at the interesting places:
// values straddling chunk edges and at Size, a tiny arena, scans whose body
// shrinks the range, a Scanner reused after its error.
func accessSeeds() [][]byte {
	return [][]byte{
		// Gather and Scatter across a chunk edge and at Size, then the
		// typed ones in both orders.
		join([]byte{1}, outer(opWriteAt, mid(0, 63), big(127)),
			acc(aGather, goffs([2]int{1, -3}, [2]int{0, 8}, [2]int{16, -8}), 7),
			acc(aScatter, goffs([2]int{1, -5}, [2]int{1, 2}), 9),
			acc(aGather, goffs([2]int{16, -4}, [2]int{16, -3}), 4),
			acc(aGatherTyped, 0x81, goffs([2]int{1, -4}, [2]int{0, 4})),
			acc(aScatterTyped, 1, goffs([2]int{1, -3}, [2]int{16, -8})),
			acc(aGatherTyped, 0, goffs()), outer(opClose), acc(aGatherTyped, 0x80, goffs()),
			acc(aScatterTyped, 0x80, goffs()), outer(opReopen, 1), acc(aScatterTyped, 0x81, goffs())),
		// Atomics of both widths, aligned and not, at Size and below
		// Start, on a one-chunk arena.
		join([]byte{0x20}, outer(opWriteAt, mid(2, 0), 100), outer(opDropBefore, mid(1, 0)),
			acc(aAtomic, 0, tat(1, 8)), acc(aAtomic, 1|4, tat(2, 0)), acc(aAtomic, 2|4|16, tat(2, 0)),
			acc(aAtomic, 3|8, tat(1, 4)), acc(aAtomic, 3|4|16, tat(2, 0)), acc(aAtomic, 0, tat(1, 2)),
			acc(aAtomic, 0|4, tat(0, 8)), acc(aAtomic, 2, tat(16, -4)), acc(aAtomic, 2, tat(16, 0)),
			outer(opReopen, 1), acc(aAtomic, 0|4|16, tat(2, 0)), acc(aAtomic, 1, tat(2, 4))),
		// Bulk reads and writes over chunk edges and past Size.
		join([]byte{2}, acc(aBulkWrite, 2, edge(1, -20), big(10)), acc(aBulkRead, 2|0x80, edge(1, -24), 40),
			acc(aBulkRead, 4, nearSize(-8), 3), acc(aBulkWrite, 3|0x80, nearSize(4), 7),
			acc(aBulkRead, 0, nearStart(-2), 0), acc(aSlice, edge(1, -10), 20), acc(aSlice, nearSize(0), 0)),
		// Scans: one broken off, one past Size, a reused Scanner that keeps
		// its error, blocks whose body writes, truncates and drops the range.
		join([]byte{1}, outer(opWriteAt, mid(0, 0), big(127)), outer(opWriteAt, mid(2, 0), big(127)),
			acc(aScanValues, 2, edge(1, -16), 20, 3), acc(aScanValues, 0x41, nearSize(-4), 8, 0xff),
			acc(aScanValues, 0x42, edge(0, 0), 8, 0xff),
			acc(aScanBlocks, edge(0, 10), big(127), 0, blockCall(opWriteAt), edge(1, 7), 20),
			acc(aScanBlocks, edge(0, 10), big(127), 0, blockCall(opTruncate), mid(1, 9)),
			acc(aScanBlocks, edge(0, 10), big(70), 0, blockCall(opDropBefore), edge(1, 3)),
			acc(aScanBlocks, nearStart(0), big(100), 0x81)),
	}
}
