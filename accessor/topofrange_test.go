package accessor_test

// TestTopOfRange walks a dataset in the top chunks of the int64 range
// through the accessor's typed, bulk, gather, slice, batch and atomic calls
// at offsets near math.MaxInt64, as the root package's TestTopOfRange does
// for the Manager: every call returns within a time limit, without a panic,
// with the right result or an error matching ErrOutOfRange, and the
// dataset reopens with the Size and Start the Manager reported.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

const (
	torShift = 16
	torTop   = math.MaxInt64 >> torShift // index of the top chunk
	torT     = int64(torTop) << torShift // its first offset
	torMax   = int64(math.MaxInt64)
	torFirst = torTop - 1 // the datasets' first chunk
	torStart = torFirst << torShift
)

// torManifest writes dir's manifest (format version 2, see manifest.go in
// the root package) by hand: record 1 at offset 512 of a 4096-byte file.
func torManifest(t *testing.T, dir string, first, size int64) {
	t.Helper()
	b := make([]byte, 4096)
	r := b[512 : 512+64]
	copy(r, "CHUNKMAP")
	binary.LittleEndian.PutUint32(r[8:], 2)
	binary.LittleEndian.PutUint64(r[16:], cs)
	binary.LittleEndian.PutUint64(r[24:], uint64(first))
	binary.LittleEndian.PutUint64(r[32:], uint64(size))
	binary.LittleEndian.PutUint64(r[40:], 1)
	binary.LittleEndian.PutUint32(r[60:], crc32.Checksum(r[:60], crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(filepath.Join(dir, chunkmap.ManifestName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// torModel is what the dataset must hold: data covers [torStart, 2^63),
// and bytes at or past size are zero.
type torModel struct {
	data []byte
	size int64
}

func (md *torModel) bytes(off, n int64) []byte { return md.data[off-torStart : off-torStart+n] }

// inRange reports whether [off, off+n) lies within [Start, Size).
func (md *torModel) inRange(off, n int64) bool {
	return n > 0 && off >= torStart && off <= torMax-n && off+n <= md.size
}

// canWrite reports whether a write of n > 0 bytes at off may be made:
// above Start, and ending at MaxInt64 at the latest.
func (md *torModel) canWrite(off, n int64) bool {
	return off >= torStart && off <= torMax-n
}

func (md *torModel) write(p []byte, off int64) {
	copy(md.bytes(off, int64(len(p))), p)
	md.size = max(md.size, off+int64(len(p)))
}

// torByte is the byte at offset o of a built dataset: never zero.
func torByte(o int64) byte { return byte(o*7+o>>9) | 1 }

// torOpen builds a dataset of chunks torFirst and torTop with the given
// Size (written whole: data below Size, stale bytes past it, which must read
// as zeros once Size covers them) and opens it.
func torOpen(t *testing.T, size int64) (string, *chunkmap.Manager, *torModel) {
	t.Helper()
	dir := t.TempDir()
	torManifest(t, dir, torFirst, size)
	md := &torModel{data: make([]byte, 2*cs), size: size}
	for idx := int64(torFirst); idx <= torTop; idx++ {
		b := make([]byte, cs)
		for i := range b {
			if o := idx<<torShift + int64(i); o < size {
				b[i] = torByte(o)
				md.data[o-torStart] = b[i]
			} else {
				b[i] = 0xee // stale, as a crash during growth may leave it
			}
		}
		if err := os.WriteFile(filepath.Join(dir, chunk.Name(idx)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	return dir, m, md
}

// torCall runs f in a goroutine and fails the test if it panics or does
// not return within 10 s; it then returns false, and the Manager must be
// left alone (a hung call holds its locks).
func torCall(t *testing.T, what string, f func()) bool {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case p := <-done:
		if p != nil {
			t.Errorf("%s panicked: %v", what, p)
		}
		return p == nil
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not return within 10s", what)
		return false
	}
}

// torWant checks err: nil if ok, else an error matching ErrOutOfRange.
func torWant(t *testing.T, what string, err error, ok bool) bool {
	t.Helper()
	if ok && err != nil {
		t.Errorf("%s = %v, want success", what, err)
		return false
	}
	if !ok && !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("%s = %v, want an error matching ErrOutOfRange", what, err)
		return false
	}
	return true
}

// torValue is one typed value kind: w bytes, read and written as the raw
// little-endian bits (the accessor's order is little endian).
type torValue struct {
	name   string
	w      int64
	read   func(va *accessor.ViewAccessor, off int64) (uint64, error)
	write  func(va *accessor.ViewAccessor, off int64, x uint64) error
	bread  func(b *accessor.Batch, off int64) (uint64, error)
	bwrite func(b *accessor.Batch, off int64, x uint64) error
}

var torValues = []torValue{
	{"Uint8", 1,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadUint8(off)
			return uint64(x), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint8(off, uint8(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { x, err := b.ReadUint8(off); return uint64(x), err },
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint8(off, uint8(x)) }},
	{"Int8", 1,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadInt8(off)
			return uint64(uint8(x)), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt8(off, int8(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			x, err := b.ReadInt8(off)
			return uint64(uint8(x)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt8(off, int8(x)) }},
	{"Uint16", 2,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadUint16(off)
			return uint64(x), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint16(off, uint16(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { x, err := b.ReadUint16(off); return uint64(x), err },
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint16(off, uint16(x)) }},
	{"Int16", 2,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadInt16(off)
			return uint64(uint16(x)), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt16(off, int16(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			x, err := b.ReadInt16(off)
			return uint64(uint16(x)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt16(off, int16(x)) }},
	{"Uint32", 4,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadUint32(off)
			return uint64(x), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint32(off, uint32(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { x, err := b.ReadUint32(off); return uint64(x), err },
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint32(off, uint32(x)) }},
	{"Int32", 4,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadInt32(off)
			return uint64(uint32(x)), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt32(off, int32(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) {
			x, err := b.ReadInt32(off)
			return uint64(uint32(x)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt32(off, int32(x)) }},
	{"Float32", 4,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadFloat32(off)
			return uint64(math.Float32bits(x)), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error {
			return va.WriteFloat32(off, math.Float32frombits(uint32(x)))
		},
		func(b *accessor.Batch, off int64) (uint64, error) {
			x, err := b.ReadFloat32(off)
			return uint64(math.Float32bits(x)), err
		},
		func(b *accessor.Batch, off int64, x uint64) error {
			return b.WriteFloat32(off, math.Float32frombits(uint32(x)))
		}},
	{"Uint64", 8,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) { return va.ReadUint64(off) },
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteUint64(off, x) },
		func(b *accessor.Batch, off int64) (uint64, error) { return b.ReadUint64(off) },
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteUint64(off, x) }},
	{"Int64", 8,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadInt64(off)
			return uint64(x), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error { return va.WriteInt64(off, int64(x)) },
		func(b *accessor.Batch, off int64) (uint64, error) { x, err := b.ReadInt64(off); return uint64(x), err },
		func(b *accessor.Batch, off int64, x uint64) error { return b.WriteInt64(off, int64(x)) }},
	{"Float64", 8,
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadFloat64(off)
			return math.Float64bits(x), err
		},
		func(va *accessor.ViewAccessor, off int64, x uint64) error {
			return va.WriteFloat64(off, math.Float64frombits(x))
		},
		func(b *accessor.Batch, off int64) (uint64, error) {
			x, err := b.ReadFloat64(off)
			return math.Float64bits(x), err
		},
		func(b *accessor.Batch, off int64, x uint64) error {
			return b.WriteFloat64(off, math.Float64frombits(x))
		}},
}

// leBits returns the little-endian value of b (1 to 8 bytes).
func leBits(b []byte) uint64 {
	var x [8]byte
	copy(x[:], b)
	return binary.LittleEndian.Uint64(x[:])
}

// leBytes returns the low w bytes of x, little endian.
func leBytes(x uint64, w int64) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x)
	return b[:w]
}

// torBulk is one bulk call pair, on raw little-endian bytes.
type torBulk struct {
	name  string
	w     int64
	read  func(va *accessor.ViewAccessor, off int64, k int) ([]byte, error)
	write func(va *accessor.ViewAccessor, off int64, raw []byte) error
}

var torBulks = []torBulk{
	{"Uint16s", 2,
		func(va *accessor.ViewAccessor, off int64, k int) ([]byte, error) {
			d := make([]uint16, k)
			err := va.ReadUint16s(off, d)
			return torAppend(d, err)
		},
		func(va *accessor.ViewAccessor, off int64, raw []byte) error {
			s := make([]uint16, len(raw)/2)
			binary.Decode(raw, binary.LittleEndian, s)
			return va.WriteUint16s(off, s)
		}},
	{"Uint32s", 4,
		func(va *accessor.ViewAccessor, off int64, k int) ([]byte, error) {
			d := make([]uint32, k)
			err := va.ReadUint32s(off, d)
			return torAppend(d, err)
		},
		func(va *accessor.ViewAccessor, off int64, raw []byte) error {
			s := make([]uint32, len(raw)/4)
			binary.Decode(raw, binary.LittleEndian, s)
			return va.WriteUint32s(off, s)
		}},
	{"Uint64s", 8,
		func(va *accessor.ViewAccessor, off int64, k int) ([]byte, error) {
			d := make([]uint64, k)
			err := va.ReadUint64s(off, d)
			return torAppend(d, err)
		},
		func(va *accessor.ViewAccessor, off int64, raw []byte) error {
			s := make([]uint64, len(raw)/8)
			binary.Decode(raw, binary.LittleEndian, s)
			return va.WriteUint64s(off, s)
		}},
	{"Float32s", 4,
		func(va *accessor.ViewAccessor, off int64, k int) ([]byte, error) {
			d := make([]float32, k)
			err := va.ReadFloat32s(off, d)
			return torAppend(d, err)
		},
		func(va *accessor.ViewAccessor, off int64, raw []byte) error {
			s := make([]float32, len(raw)/4)
			binary.Decode(raw, binary.LittleEndian, s)
			return va.WriteFloat32s(off, s)
		}},
	{"Float64s", 8,
		func(va *accessor.ViewAccessor, off int64, k int) ([]byte, error) {
			d := make([]float64, k)
			err := va.ReadFloat64s(off, d)
			return torAppend(d, err)
		},
		func(va *accessor.ViewAccessor, off int64, raw []byte) error {
			s := make([]float64, len(raw)/8)
			binary.Decode(raw, binary.LittleEndian, s)
			return va.WriteFloat64s(off, s)
		}},
}

// torAppend encodes the values d read with error err.
func torAppend(d any, err error) ([]byte, error) {
	b, _ := binary.Append(nil, binary.LittleEndian, d)
	return b, err
}

// torName names offset off in a subtest name: relative to MaxInt64 if it
// is near it.
func torName(off int64) string {
	if off > torMax/2 {
		return fmt.Sprintf("max-%d", torMax-off)
	}
	return fmt.Sprint(off)
}

// torNames names a list of offsets.
func torNames(offs []int64) string {
	var b bytes.Buffer
	for i, o := range offs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(torName(o))
	}
	return b.String()
}

// torRaw returns n bytes to write, never zero, distinct per seed.
func torRaw(seed, n int64) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(int64(i)*13+seed*29) | 0x80
	}
	return p
}

func TestTopOfRange(t *testing.T) {
	type op struct {
		name string
		run  func(t *testing.T, va *accessor.ViewAccessor, md *torModel)
	}
	var ops []op
	add := func(name string, run func(t *testing.T, va *accessor.ViewAccessor, md *torModel)) {
		ops = append(ops, op{name, run})
	}
	mid := torT + cs/2 // the Size of the smaller dataset
	for _, tv := range torValues {
		w := tv.w
		offs := []int64{torMax - w, torMax - w + 1, torMax, torT - w/2, mid - w, mid - w + 1, mid, torStart, torStart - 1, -1}
		for _, off := range offs {
			add(fmt.Sprintf("Read%s(%s)", tv.name, torName(off)), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				var x uint64
				var err error
				if torCall(t, "read", func() { x, err = tv.read(va, off) }) && torWant(t, fmt.Sprintf("Read%s(%d)", tv.name, off), err, md.inRange(off, w)) && err == nil {
					if want := leBits(md.bytes(off, w)); x != want {
						t.Errorf("Read%s(%d) = %#x, want %#x", tv.name, off, x, want)
					}
				}
			})
			add(fmt.Sprintf("Write%s(%s)", tv.name, torName(off)), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				x := leBits(torRaw(off, 8))
				var err error
				if torCall(t, "write", func() { err = tv.write(va, off, x) }) && torWant(t, fmt.Sprintf("Write%s(%d)", tv.name, off), err, md.canWrite(off, w)) && err == nil {
					md.write(leBytes(x, w), off)
				}
			})
			add(fmt.Sprintf("Batch.Read%s(%s)", tv.name, torName(off)), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				var x uint64
				var err, berr error
				torCall(t, "batch read", func() {
					berr = va.Batch(func(b *accessor.Batch) error {
						x, err = tv.bread(b, off)
						return nil
					})
				})
				torWant(t, "Batch", berr, true)
				if torWant(t, fmt.Sprintf("Batch.Read%s(%d)", tv.name, off), err, md.inRange(off, w)) && err == nil {
					if want := leBits(md.bytes(off, w)); x != want {
						t.Errorf("Batch.Read%s(%d) = %#x, want %#x", tv.name, off, x, want)
					}
				}
			})
			add(fmt.Sprintf("Batch.Write%s(%s)", tv.name, torName(off)), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				x := leBits(torRaw(off+1, 8))
				var err, berr error
				torCall(t, "batch write", func() {
					berr = va.Batch(func(b *accessor.Batch) error {
						err = tv.bwrite(b, off, x)
						return nil
					})
				})
				torWant(t, "Batch", berr, true)
				if torWant(t, fmt.Sprintf("Batch.Write%s(%d)", tv.name, off), err, md.inRange(off, w)) && err == nil {
					md.write(leBytes(x, w), off)
				}
			})
		}
	}
	for _, tb := range torBulks {
		w := tb.w
		for _, c := range []struct{ off, k int64 }{
			{torMax - 4*w, 4}, {torMax - 4*w + 1, 4}, {torMax - 1000*w, 1000}, {torMax - 1000*w + 1, 1000},
			{torT - 500*w, 1000}, {mid - 4*w, 4}, {mid - 4*w + 1, 4}, {torStart - 1, 4}, {torMax, 1},
		} {
			add(fmt.Sprintf("Read%s(%s,%d)", tb.name, torName(c.off), c.k), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				var got []byte
				var err error
				if torCall(t, "bulk read", func() { got, err = tb.read(va, c.off, int(c.k)) }) && torWant(t, fmt.Sprintf("Read%s(%d, %d values)", tb.name, c.off, c.k), err, md.inRange(c.off, c.k*w)) && err == nil {
					if !bytes.Equal(got, md.bytes(c.off, c.k*w)) {
						t.Errorf("Read%s(%d, %d values): wrong values", tb.name, c.off, c.k)
					}
				}
			})
			add(fmt.Sprintf("Write%s(%s,%d)", tb.name, torName(c.off), c.k), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				raw := torRaw(c.off, c.k*w)
				var err error
				if torCall(t, "bulk write", func() { err = tb.write(va, c.off, raw) }) && torWant(t, fmt.Sprintf("Write%s(%d, %d values)", tb.name, c.off, c.k), err, md.canWrite(c.off, c.k*w)) && err == nil {
					md.write(raw, c.off)
				}
			})
		}
	}
	for _, w := range []int64{4, 8} {
		offs := []int64{torMax - 2*w + 1, torT - w, mid - w, torStart}
		lists := [][]int64{offs}
		for _, o := range []int64{torMax - w + 1, torMax, mid, torStart - w, -w} {
			lists = append(lists, []int64{o})
		}
		for _, list := range lists {
			add(fmt.Sprintf("Gather%d(%s)", w*8, torNames(list)), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				ok := true
				for _, o := range list {
					ok = ok && md.inRange(o, w)
				}
				var got []byte
				var err error
				torCall(t, "gather", func() {
					if w == 4 {
						d := make([]uint32, len(list))
						err = va.ReadUint32sAt(list, d)
						got, _ = torAppend(d, nil)
					} else {
						d := make([]uint64, len(list))
						err = va.ReadUint64sAt(list, d)
						got, _ = torAppend(d, nil)
					}
				})
				if torWant(t, fmt.Sprintf("Read%dsAt(%v)", w*8, list), err, ok) && err == nil {
					for i, o := range list {
						if !bytes.Equal(got[int64(i)*w:int64(i+1)*w], md.bytes(o, w)) {
							t.Errorf("Read%dsAt: value at %d wrong", w*8, o)
						}
					}
				}
			})
			add(fmt.Sprintf("Scatter%d(%s)", w*8, torNames(list)), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				ok := true
				for _, o := range list {
					ok = ok && md.inRange(o, w)
				}
				raw := torRaw(int64(len(list)), int64(len(list))*w)
				var err error
				torCall(t, "scatter", func() {
					if w == 4 {
						s := make([]uint32, len(list))
						binary.Decode(raw, binary.LittleEndian, s)
						err = va.WriteUint32sAt(list, s)
					} else {
						s := make([]uint64, len(list))
						binary.Decode(raw, binary.LittleEndian, s)
						err = va.WriteUint64sAt(list, s)
					}
				})
				if torWant(t, fmt.Sprintf("Write%dsAt(%v)", w*8, list), err, ok) && err == nil {
					for i, o := range list {
						copy(md.bytes(o, w), raw[int64(i)*w:int64(i+1)*w])
					}
				}
			})
		}
		for _, off := range []int64{torMax - 2*w + 1, torMax - w + 1, torT - w, mid - w, mid} {
			add(fmt.Sprintf("Add%d(%s)", w*8, torName(off)), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
				var x, y uint64
				var err, lerr error
				torCall(t, "atomics", func() {
					if w == 4 {
						var x32, y32 uint32
						x32, err = va.AddUint32(off, 1)
						y32, lerr = va.LoadUint32(off)
						x, y = uint64(x32), uint64(y32)
					} else {
						x, err = va.AddUint64(off, 1)
						y, lerr = va.LoadUint64(off)
					}
				})
				ok := md.inRange(off, w)
				if torWant(t, fmt.Sprintf("Add%d(%d)", w*8, off), err, ok) && torWant(t, fmt.Sprintf("Load%d(%d)", w*8, off), lerr, ok) && ok {
					b := md.bytes(off, w)
					var want uint64
					if w == 4 {
						want = uint64(binary.NativeEndian.Uint32(b) + 1)
						binary.NativeEndian.PutUint32(b, uint32(want))
					} else {
						want = binary.NativeEndian.Uint64(b) + 1
						binary.NativeEndian.PutUint64(b, want)
					}
					if x != want || y != want {
						t.Errorf("Add%d(%d), Load = %#x, %#x, want %#x", w*8, off, x, y, want)
					}
				}
			})
		}
	}
	for _, c := range []struct{ off, n int64 }{
		{torMax - 8, 8}, {torMax - 7, 8}, {torT - 8, 16}, {torStart, 2 * cs}, {torStart, 2*cs - 1}, {mid - 8, 8}, {mid, 8},
	} {
		add(fmt.Sprintf("Slice(%s,%d)", torName(c.off), c.n), func(t *testing.T, va *accessor.ViewAccessor, md *torModel) {
			var v *accessor.View
			var err error
			torCall(t, "slice", func() { v, err = va.Slice(c.off, int(c.n)) })
			if !torWant(t, fmt.Sprintf("Slice(%d, %d)", c.off, c.n), err, md.inRange(c.off, c.n)) || err != nil {
				return
			}
			torCall(t, "slice bytes", func() {
				defer v.Release()
				b := v.Bytes()
				if !bytes.Equal(b, md.bytes(c.off, c.n)) {
					t.Errorf("Slice(%d, %d): wrong bytes", c.off, c.n)
					return
				}
				raw := torRaw(c.off, c.n)
				copy(b, raw)
				md.write(raw, c.off)
			})
		})
	}

	for _, size := range []int64{mid, torMax} {
		for _, o := range ops {
			t.Run(fmt.Sprintf("size=max-%d/%s", torMax-size, o.name), func(t *testing.T) {
				t.Parallel()
				dir, m, md := torOpen(t, size)
				o.run(t, accessor.New(m, nil), md)
				if t.Failed() {
					return // a call may have hung: leave the Manager alone
				}
				for i := range 2 {
					var p []byte
					var err error
					var gotSize, gotStart int64
					torCall(t, "check", func() {
						gotSize, gotStart = m.Size(), m.Start()
						p = make([]byte, md.size-torStart)
						_, err = m.ReadAt(p, torStart)
					})
					if gotSize != md.size || gotStart != torStart || err != nil {
						t.Fatalf("Size, Start, ReadAt = %d, %d, %v, want %d, %d, nil", gotSize, gotStart, err, md.size, int64(torStart))
					}
					if !bytes.Equal(p, md.bytes(torStart, md.size-torStart)) {
						t.Fatalf("bytes differ from the model")
					}
					if err := m.Close(); err != nil {
						t.Fatal(err)
					}
					if i == 0 {
						if m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs}); err != nil {
							t.Fatalf("reopen: %v", err)
						}
					}
				}
			})
		}
	}
}
