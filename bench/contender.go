package bench

// This file holds the contenders: one small interface, a few optional
// capabilities, and one type per way of reaching the bytes.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/edsrzf/mmap-go"
	xmmap "golang.org/x/exp/mmap"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// Contender is one way of reaching the bytes of a [Dataset]. Every
// contender can ReadAt (the page cache is warmed through it, and the
// sequential workload uses it) and Close; what else it can do is told by the
// optional interfaces below, which the workloads test for.
//
// The methods of the optional interfaces are whole kernels, loops over a
// block of accesses, so the interface call is paid once per block rather than
// once per access and flat's kernel stays the physical limit. Kernels take
// offsets that are multiples of 8 and lie within the dataset; they do not
// allocate.
type Contender interface {
	io.ReaderAt
	Close() error
}

// RandReader reads uint64s at random offsets.
type RandReader interface {
	Contender
	// ReadUint64s sets dst[i] to the little-endian uint64 at offs[i] for
	// every i < len(offs). It is safe for concurrent use.
	ReadUint64s(offs []int64, dst []uint64) error
}

// RandWriter writes uint64s at random offsets.
type RandWriter interface {
	Contender
	// WriteUint64s stores src[i], little endian, at offs[i] for every
	// i < len(offs).
	WriteUint64s(offs []int64, src []uint64) error
}

// RunReader reads runs of consecutive uint64s: the shape of the accessor's
// bulk calls.
type RunReader interface {
	Contender
	// ReadRun sets dst to the len(dst) little-endian uint64s at off. It is
	// not safe for concurrent use (it may reuse a buffer).
	ReadRun(off int64, dst []uint64) error
}

// Syncer makes the writes made so far durable.
type Syncer interface {
	Contender
	Sync() error
}

// Statser reports a Manager's counters (misses in the LRU workload).
type Statser interface {
	Stats() chunkmap.Stats
}

// Dataset says where one set of bytes is, in both layouts.
type Dataset struct {
	Size    int64            // bytes
	Flat    string           // the flat file, for flat, pread and xexp
	Dir     string           // the chunkmap dataset, same bytes
	Options chunkmap.Options // how chunkmap contenders open Dir
}

// Impl is a named contender.
type Impl struct {
	Name string
	// Open opens the contender on d. It does not warm anything.
	Open func(d Dataset) (Contender, error)
	// Variant marks another API over the same Manager as "chunkmap"; the
	// workloads that only ReadAt, Sync or Open skip it.
	Variant bool
	// Pinned marks zero-copy access through pinned bytes, which is not
	// fault guarded; only the View workloads measure it (against flat).
	Pinned bool
	// Pressure marks an option that changes only what a miss does; only
	// the LRU pressure workload measures it.
	Pressure bool

	proto any // a nil value of the contender's type, to test capabilities
}

// Impls are the contenders, in the order they run. To add one, write a type
// with the kernels it can serve and add a line here: every workload whose
// interface it implements picks it up. A gather/scatter call such as
// ReadUint64sAt(offs, dst) is exactly the shape of RandReader's kernel, and
// a batch scope wraps the kernel's loop once (see chunkmapBatch).
var Impls = []Impl{
	{Name: "flat", Open: openFlat, proto: (*flat)(nil)},
	{Name: "pread", Open: openPread, proto: (*pread)(nil)},
	{Name: "xexp", Open: openXexp, proto: (*xexp)(nil)},
	{Name: "chunkmap", Open: openChunkmap, proto: (*chunkmapRW)(nil)},
	{Name: "chunkmap-typed", Open: openTyped, Variant: true, proto: (*chunkmapTyped)(nil)},
	{Name: "chunkmap-batch", Open: openBatch, Variant: true, proto: (*chunkmapBatch)(nil)},
	{Name: "chunkmap-gather", Open: openGather, Variant: true, proto: (*chunkmapGather)(nil)},
	{Name: "chunkmap-bulk", Open: openBulk, Variant: true, proto: (*chunkmapBulk)(nil)},
	{Name: "chunkmap-view", Open: openView, Variant: true, Pinned: true, proto: (*chunkmapView)(nil)},
	{Name: "chunkmap-admit", Open: openAdmit, Variant: true, Pressure: true, proto: (*chunkmapAdmit)(nil)},
}

// Can reports whether impl's contender implements T.
func Can[T any](impl Impl) bool {
	_, ok := impl.proto.(T)
	return ok
}

// --- flat: one mapping of one file, raw slice access ------------------------

// flat maps the whole flat file once with mmap-go and reads and writes the
// slice with encoding/binary: the physical limit.
type flat struct {
	f *os.File
	m mmap.MMap
}

func openFlat(d Dataset) (Contender, error) {
	f, err := os.OpenFile(d.Flat, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	m, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return &flat{f: f, m: m}, nil
}

func (c *flat) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(c.m)) {
		return 0, fmt.Errorf("bench: flat read at offset %d: out of range", off)
	}
	n := copy(p, c.m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (c *flat) ReadUint64s(offs []int64, dst []uint64) error {
	b := []byte(c.m)
	dst = dst[:len(offs)]
	for i, off := range offs {
		dst[i] = binary.LittleEndian.Uint64(b[off:])
	}
	return nil
}

func (c *flat) WriteUint64s(offs []int64, src []uint64) error {
	b := []byte(c.m)
	src = src[:len(offs)]
	for i, off := range offs {
		binary.LittleEndian.PutUint64(b[off:], src[i])
	}
	return nil
}

func (c *flat) ReadRun(off int64, dst []uint64) error {
	b := c.m[off : off+8*int64(len(dst))]
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return nil
}

// Sync is what chunk.File.Sync does for one chunk, over the whole file:
// msync of the mapping, then fsync.
func (c *flat) Sync() error { return errors.Join(c.m.Flush(), c.f.Sync()) }

func (c *flat) Close() error { return errors.Join(c.m.Unmap(), c.f.Close()) }

// --- pread: a system call per access -----------------------------------------

type pread struct {
	f   *os.File
	buf []byte // ReadRun's
}

func openPread(d Dataset) (Contender, error) {
	f, err := os.OpenFile(d.Flat, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &pread{f: f}, nil
}

func (c *pread) ReadAt(p []byte, off int64) (int, error) { return c.f.ReadAt(p, off) }

func (c *pread) ReadUint64s(offs []int64, dst []uint64) error {
	var b [8]byte
	dst = dst[:len(offs)]
	for i, off := range offs {
		if _, err := c.f.ReadAt(b[:], off); err != nil {
			return err
		}
		dst[i] = binary.LittleEndian.Uint64(b[:])
	}
	return nil
}

func (c *pread) WriteUint64s(offs []int64, src []uint64) error {
	var b [8]byte
	src = src[:len(offs)]
	for i, off := range offs {
		binary.LittleEndian.PutUint64(b[:], src[i])
		if _, err := c.f.WriteAt(b[:], off); err != nil {
			return err
		}
	}
	return nil
}

func (c *pread) ReadRun(off int64, dst []uint64) error {
	b := grow(&c.buf, 8*len(dst))
	if _, err := c.f.ReadAt(b, off); err != nil {
		return err
	}
	decode(dst, b)
	return nil
}

func (c *pread) Sync() error  { return c.f.Sync() }
func (c *pread) Close() error { return c.f.Close() }

// --- xexp: golang.org/x/exp/mmap, read only -----------------------------------

type xexp struct {
	r   *xmmap.ReaderAt
	buf []byte
}

func openXexp(d Dataset) (Contender, error) {
	r, err := xmmap.Open(d.Flat)
	if err != nil {
		return nil, err
	}
	return &xexp{r: r}, nil
}

func (c *xexp) ReadAt(p []byte, off int64) (int, error) { return c.r.ReadAt(p, off) }

func (c *xexp) ReadUint64s(offs []int64, dst []uint64) error {
	var b [8]byte
	dst = dst[:len(offs)]
	for i, off := range offs {
		if _, err := c.r.ReadAt(b[:], off); err != nil {
			return err
		}
		dst[i] = binary.LittleEndian.Uint64(b[:])
	}
	return nil
}

func (c *xexp) ReadRun(off int64, dst []uint64) error {
	b := grow(&c.buf, 8*len(dst))
	if _, err := c.r.ReadAt(b, off); err != nil {
		return err
	}
	decode(dst, b)
	return nil
}

func (c *xexp) Close() error { return c.r.Close() }

// --- chunkmap: the Manager, and the accessor's APIs over it ------------------

// cmBase is what every chunkmap contender shares: the Manager, opened with
// the dataset's options.
type cmBase struct {
	m *chunkmap.Manager
}

func openManager(d Dataset) (cmBase, error) {
	opts := d.Options
	m, err := chunkmap.Open(d.Dir, &opts)
	return cmBase{m: m}, err
}

func (c *cmBase) ReadAt(p []byte, off int64) (int, error) { return c.m.ReadAt(p, off) }
func (c *cmBase) Stats() chunkmap.Stats                   { return c.m.Stats() }
func (c *cmBase) Close() error                            { return c.m.Close() }

// chunkmapRW uses the Manager's ReadAt and WriteAt, 8 bytes at a time for
// the random kernels.
type chunkmapRW struct {
	cmBase
	buf []byte
}

func openChunkmap(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapRW{cmBase: b}, nil
}

func (c *chunkmapRW) ReadUint64s(offs []int64, dst []uint64) error {
	var b [8]byte
	dst = dst[:len(offs)]
	for i, off := range offs {
		if _, err := c.m.ReadAt(b[:], off); err != nil {
			return err
		}
		dst[i] = binary.LittleEndian.Uint64(b[:])
	}
	return nil
}

func (c *chunkmapRW) WriteUint64s(offs []int64, src []uint64) error {
	var b [8]byte
	src = src[:len(offs)]
	for i, off := range offs {
		binary.LittleEndian.PutUint64(b[:], src[i])
		if _, err := c.m.WriteAt(b[:], off); err != nil {
			return err
		}
	}
	return nil
}

func (c *chunkmapRW) ReadRun(off int64, dst []uint64) error {
	b := grow(&c.buf, 8*len(dst))
	if _, err := c.m.ReadAt(b, off); err != nil {
		return err
	}
	decode(dst, b)
	return nil
}

func (c *chunkmapRW) Sync() error { return c.m.Sync() }

// chunkmapTyped uses the accessor's single typed calls, each guarded on its
// own.
type chunkmapTyped struct {
	cmBase
	va *accessor.ViewAccessor
}

func openTyped(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapTyped{cmBase: b, va: accessor.New(b.m, binary.LittleEndian)}, nil
}

func (c *chunkmapTyped) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	for i, off := range offs {
		x, err := c.va.ReadUint64(off)
		if err != nil {
			return err
		}
		dst[i] = x
	}
	return nil
}

func (c *chunkmapTyped) WriteUint64s(offs []int64, src []uint64) error {
	src = src[:len(offs)]
	for i, off := range offs {
		if err := c.va.WriteUint64(off, src[i]); err != nil {
			return err
		}
	}
	return nil
}

// chunkmapBatch makes each kernel call one Manager.Batch: one fault guard
// for the whole block, and a hit path of plain loads from the bytes the
// Batch hands out, decoded with encoding/binary.
type chunkmapBatch struct {
	cmBase
}

func openBatch(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapBatch{cmBase: b}, nil
}

func (c *chunkmapBatch) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	return c.m.Batch(func(b *chunkmap.Batch) error {
		for i, off := range offs {
			p, err := b.Bytes(off, 8)
			if err != nil {
				return err
			}
			dst[i] = binary.LittleEndian.Uint64(p)
		}
		return nil
	})
}

func (c *chunkmapBatch) WriteUint64s(offs []int64, src []uint64) error {
	src = src[:len(offs)]
	return c.m.Batch(func(b *chunkmap.Batch) error {
		for i, off := range offs {
			p, err := b.WritableBytes(off, 8)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(p, src[i])
		}
		return nil
	})
}

// chunkmapGather uses the accessor's gather and scatter calls,
// ReadUint64sAt and WriteUint64sAt (Manager.Gather and Manager.Scatter
// underneath): addresses resolved first, then independent loads or stores,
// under one fault guard per 256 values.
type chunkmapGather struct {
	cmBase
	va *accessor.ViewAccessor
}

func openGather(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapGather{cmBase: b, va: accessor.New(b.m, binary.LittleEndian)}, nil
}

func (c *chunkmapGather) ReadUint64s(offs []int64, dst []uint64) error {
	return c.va.ReadUint64sAt(offs, dst)
}

func (c *chunkmapGather) WriteUint64s(offs []int64, src []uint64) error {
	return c.va.WriteUint64sAt(offs, src)
}

// chunkmapAdmit is chunkmapRW on a Manager opened with Options.Admission:
// a miss maps its chunk only if the chunk is missed often enough, and is
// served by pread otherwise.
type chunkmapAdmit struct {
	chunkmapRW
}

func openAdmit(d Dataset) (Contender, error) {
	d.Options.Admission = true
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapAdmit{chunkmapRW{cmBase: b}}, nil
}

// chunkmapBulk uses the accessor's bulk calls.
type chunkmapBulk struct {
	cmBase
	va *accessor.ViewAccessor
}

func openBulk(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapBulk{cmBase: b, va: accessor.New(b.m, binary.LittleEndian)}, nil
}

func (c *chunkmapBulk) ReadRun(off int64, dst []uint64) error { return c.va.ReadUint64s(off, dst) }

// chunkmapView pins every chunk of the dataset as a View when it opens and
// reads and writes their bytes directly: zero-copy, unguarded, the ceiling
// a hot loop can reach.
type chunkmapView struct {
	cmBase
	views []*accessor.View
	b     [][]byte // views[i].Bytes()
	shift uint
	mask  int64
}

func openView(d Dataset) (Contender, error) {
	base, err := openManager(d)
	if err != nil {
		return nil, err
	}
	c := &chunkmapView{cmBase: base}
	cs := base.m.ChunkSize()
	c.mask = cs - 1
	for cs > 1 {
		cs >>= 1
		c.shift++
	}
	va := accessor.New(base.m, binary.LittleEndian)
	for off := int64(0); off < d.Size; off += base.m.ChunkSize() {
		v, err := va.Slice(off, int(min(base.m.ChunkSize(), d.Size-off)))
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c.views = append(c.views, v)
		c.b = append(c.b, v.Bytes())
	}
	return c, nil
}

func (c *chunkmapView) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	for i, off := range offs {
		dst[i] = binary.LittleEndian.Uint64(c.b[off>>c.shift][off&c.mask:])
	}
	return nil
}

func (c *chunkmapView) WriteUint64s(offs []int64, src []uint64) error {
	src = src[:len(offs)]
	for i, off := range offs {
		binary.LittleEndian.PutUint64(c.b[off>>c.shift][off&c.mask:], src[i])
	}
	return nil
}

func (c *chunkmapView) Close() error {
	for _, v := range c.views {
		v.Release()
	}
	c.views, c.b = nil, nil
	return c.m.Close()
}

// --- helpers ------------------------------------------------------------------

// grow returns (*buf)[:n], reallocating *buf if it is too short.
func grow(buf *[]byte, n int) []byte {
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	return (*buf)[:n]
}

// decode sets dst to the little-endian uint64s of b.
func decode(dst []uint64, b []byte) {
	b = b[:8*len(dst)]
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
}
