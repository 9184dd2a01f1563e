package bench

// This file holds the contenders: one small interface, a few optional
// capabilities, and one type per way of reaching the bytes.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"unsafe"

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

// BlockWriter writes whole blocks at an offset: flat, pread and chunkmap's
// Manager.
type BlockWriter interface {
	Contender
	io.WriterAt
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
	// RandOnly marks a contender that only the random workloads (RandRead,
	// RandWrite, ParallelRead) measure, beside flat, whether its accesses
	// are guarded or not: the reference designs chunkslices, guardfloor
	// and scopefloor, which bound what chunking alone, a per-call fault
	// guard alone and a scope's per-access check alone cost, and
	// chunkmap-pinned, one pin of the whole dataset.
	RandOnly bool

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
	{Name: "chunkslices", Open: openChunkSlices, RandOnly: true, proto: (*chunkSlices)(nil)},
	{Name: "guardfloor", Open: openGuardFloor, RandOnly: true, proto: (*guardFloor)(nil)},
	{Name: "scopefloor", Open: openScopeFloor, RandOnly: true, proto: (*scopeFloor)(nil)},
	{Name: "holdfloor", Open: openHoldFloor, RandOnly: true, proto: (*holdFloor)(nil)},
	{Name: "holdfloor-asym", Open: openAsymHoldFloor, RandOnly: true, proto: (*holdFloor)(nil)},
	{Name: "chunkmap", Open: openChunkmap, proto: (*chunkmapRW)(nil)},
	{Name: "chunkmap-typed", Open: openTyped, Variant: true, proto: (*chunkmapTyped)(nil)},
	{Name: "chunkmap-batch", Open: openBatch, Variant: true, proto: (*chunkmapBatch)(nil)},
	{Name: "chunkmap-batch-held", Open: openBatchHeld, Variant: true, proto: (*chunkmapBatch)(nil)},
	{Name: "chunkmap-typed-batch", Open: openTypedBatch, Variant: true, proto: (*chunkmapTypedBatch)(nil)},
	{Name: "chunkmap-gather", Open: openGather, Variant: true, proto: (*chunkmapGather)(nil)},
	{Name: "chunkmap-bulk", Open: openBulk, Variant: true, proto: (*chunkmapBulk)(nil)},
	{Name: "chunkmap-view", Open: openView, Variant: true, Pinned: true, proto: (*chunkmapView)(nil)},
	{Name: "chunkmap-pinned", Open: openPinned, Variant: true, Pinned: true, RandOnly: true, proto: (*chunkmapPinned)(nil)},
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

func (c *flat) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(c.m)) {
		return 0, fmt.Errorf("bench: flat write of %d bytes at offset %d: out of range", len(p), off)
	}
	return copy(c.m[off:], p), nil
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

func (c *pread) ReadAt(p []byte, off int64) (int, error)  { return c.f.ReadAt(p, off) }
func (c *pread) WriteAt(p []byte, off int64) (int, error) { return c.f.WriteAt(p, off) }

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

// openManager opens the dataset for a chunkmap contender. Every contender
// but chunkmap-admit turns admission off (NoAdmission), so that each maps a
// chunk on its first miss as it did before admission became the default,
// and the rows stay comparable across versions.
func openManager(d Dataset) (cmBase, error) {
	return openManagerAdmit(d, false)
}

// openManagerAdmit is openManager with admission on or off.
func openManagerAdmit(d Dataset, admit bool) (cmBase, error) {
	opts := d.Options
	opts.NoAdmission = !admit
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

func (c *chunkmapRW) WriteAt(p []byte, off int64) (int, error) { return c.m.WriteAt(p, off) }

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
// Batch hands out, decoded with encoding/binary. With hold (the
// chunkmap-batch-held contender), each Batch begins with one Hold
// (HoldWritable) of the range its block's offsets span, so that every
// access of the block finds its chunk in the window of the fast path,
// where otherwise the accesses to chunks the batch has not touched yet,
// and to those outside its window, go through calls.
type chunkmapBatch struct {
	cmBase
	hold bool
}

func openBatch(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapBatch{cmBase: b}, nil
}

func openBatchHeld(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapBatch{cmBase: b, hold: true}, nil
}

// holdSpan holds in b, if c holds, the range from the lowest to the end of
// the highest of the 8-byte values at offs, as a user who knows the range
// a batch will reach would.
func (c *chunkmapBatch) holdSpan(b *chunkmap.Batch, offs []int64, write bool) error {
	if !c.hold || len(offs) == 0 {
		return nil
	}
	lo, hi := slices.Min(offs), slices.Max(offs)+8
	if write {
		return b.HoldWritable(lo, hi-lo)
	}
	return b.Hold(lo, hi-lo)
}

func (c *chunkmapBatch) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	return c.m.Batch(func(b *chunkmap.Batch) error {
		if err := c.holdSpan(b, offs, false); err != nil {
			return err
		}
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
		if err := c.holdSpan(b, offs, true); err != nil {
			return err
		}
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

// chunkmapTypedBatch makes each kernel call one accessor Batch
// (ViewAccessor.Batch) and reads and writes with its typed calls,
// ReadUint64 and WriteUint64: chunkmapBatch with the accessor's decoding
// and its handling of values across chunk boundaries, one call per value.
type chunkmapTypedBatch struct {
	cmBase
	va *accessor.ViewAccessor
}

func openTypedBatch(d Dataset) (Contender, error) {
	b, err := openManager(d)
	if err != nil {
		return nil, err
	}
	return &chunkmapTypedBatch{cmBase: b, va: accessor.New(b.m, binary.LittleEndian)}, nil
}

func (c *chunkmapTypedBatch) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	return c.va.Batch(func(b *accessor.Batch) error {
		for i, off := range offs {
			x, err := b.ReadUint64(off)
			if err != nil {
				return err
			}
			dst[i] = x
		}
		return nil
	})
}

func (c *chunkmapTypedBatch) WriteUint64s(offs []int64, src []uint64) error {
	src = src[:len(offs)]
	return c.va.Batch(func(b *accessor.Batch) error {
		for i, off := range offs {
			if err := b.WriteUint64(off, src[i]); err != nil {
				return err
			}
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

// chunkmapAdmit is chunkmapRW on a Manager opened with the default Options (admission on):
// a miss maps its chunk only if the chunk is missed often enough, and is
// served by pread otherwise.
type chunkmapAdmit struct {
	chunkmapRW
}

func openAdmit(d Dataset) (Contender, error) {
	b, err := openManagerAdmit(d, true)
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

// chunkmapView pins the whole dataset as one accessor View (one
// Slice, which crosses every chunk boundary: the arena maps adjacent chunks
// side by side) when it opens, and reads and writes its bytes directly:
// zero-copy, unguarded, the ceiling a hot loop can reach through the
// accessor. Only the View workloads measure it.
type chunkmapView struct {
	cmBase
	view *accessor.View
	b    []byte // view.Bytes()
}

func openView(d Dataset) (Contender, error) {
	base, err := openManager(d)
	if err != nil {
		return nil, err
	}
	c := &chunkmapView{cmBase: base}
	va := accessor.New(base.m, binary.LittleEndian)
	if c.view, err = va.Slice(0, int(d.Size)); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	c.b = c.view.Bytes()
	return c, nil
}

func (c *chunkmapView) ReadAt(p []byte, off int64) (int, error) { return readSlice(c.b, p, off) }

func (c *chunkmapView) ReadUint64s(offs []int64, dst []uint64) error {
	return readUint64s(c.b, offs, dst)
}

func (c *chunkmapView) WriteUint64s(offs []int64, src []uint64) error {
	return writeUint64s(c.b, offs, src)
}

// Sync makes the stores through the view durable (eachImpl calls it after
// a write workload, so the next contender does not pay for the writeback).
func (c *chunkmapView) Sync() error { return c.m.Sync() }

func (c *chunkmapView) Close() error {
	if c.view != nil {
		c.view.Release()
	}
	c.view, c.b = nil, nil
	return c.m.Close()
}

// chunkmapPinned opens the Manager with an arena that holds the whole
// dataset (Options.ArenaSize), takes one Manager.PinWritable of the whole
// range, and then loads and stores through the pinned []byte with
// encoding/binary, exactly like flat: what access through a pin costs
// across chunks, compared with one flat mapping (the goal is within 1.1×).
// The random workloads measure it.
type chunkmapPinned struct {
	cmBase
	p *chunkmap.Pinned
	b []byte // p.Bytes()
}

func openPinned(d Dataset) (Contender, error) {
	cs := d.Options.ChunkSize
	d.Options.ArenaSize = (d.Size + cs - 1) / cs * cs
	base, err := openManager(d)
	if err != nil {
		return nil, err
	}
	c := &chunkmapPinned{cmBase: base}
	if c.p, err = base.m.PinWritable(0, int(d.Size)); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	c.b = c.p.Bytes()
	return c, nil
}

func (c *chunkmapPinned) ReadAt(p []byte, off int64) (int, error) { return readSlice(c.b, p, off) }

func (c *chunkmapPinned) ReadUint64s(offs []int64, dst []uint64) error {
	return readUint64s(c.b, offs, dst)
}

func (c *chunkmapPinned) WriteUint64s(offs []int64, src []uint64) error {
	return writeUint64s(c.b, offs, src)
}

// Sync makes the stores through the pin durable.
func (c *chunkmapPinned) Sync() error { return c.m.Sync() }

func (c *chunkmapPinned) Close() error {
	c.p.Release() // nil-safe
	c.p, c.b = nil, nil
	return c.m.Close()
}

// --- reference designs: what chunking alone and a guard alone cost ----------

// chunkSlices is the naive chunked design: one mmap-go mapping per chunk
// file of the chunkmap dataset, kept in a [][]byte and read as
// maps[off>>shift][off&mask:], with no fault guard, no LRU and no checks
// beyond Go's bounds checks. Against flat it measures the cost of chunking
// alone: the extra load of the chunk's slice header and its bounds check.
type chunkSlices struct {
	files []*os.File
	maps  []mmap.MMap
	b     [][]byte // maps, as plain slices
	shift uint
	mask  int64
}

// chunkFileName is the name chunkmap gives chunk idx's file (its
// internal/chunk.Name): the index in 16 lower-case hex digits and ".chunk".
func chunkFileName(idx int64) string { return fmt.Sprintf("%016x.chunk", uint64(idx)) }

func openChunkSlices(d Dataset) (Contender, error) {
	cs := d.Options.ChunkSize
	if cs <= 0 || cs&(cs-1) != 0 {
		return nil, fmt.Errorf("bench: chunkslices needs a power-of-two ChunkSize, not %d", cs)
	}
	c := &chunkSlices{mask: cs - 1}
	for ; cs > 1; cs >>= 1 {
		c.shift++
	}
	for idx := int64(0); idx<<c.shift < d.Size; idx++ {
		f, err := os.OpenFile(filepath.Join(d.Dir, chunkFileName(idx)), os.O_RDWR, 0)
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c.files = append(c.files, f)
		m, err := mmap.Map(f, mmap.RDWR, 0)
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c.maps = append(c.maps, m)
		c.b = append(c.b, []byte(m))
	}
	return c, nil
}

func (c *chunkSlices) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		idx := off >> c.shift
		if off < 0 || idx >= int64(len(c.b)) {
			return n, io.EOF
		}
		k := copy(p[n:], c.b[idx][off&c.mask:])
		if k == 0 {
			return n, io.EOF
		}
		n += k
		off += int64(k)
	}
	return n, nil
}

func (c *chunkSlices) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	for i, off := range offs {
		dst[i] = binary.LittleEndian.Uint64(c.b[off>>c.shift][off&c.mask:])
	}
	return nil
}

func (c *chunkSlices) WriteUint64s(offs []int64, src []uint64) error {
	src = src[:len(offs)]
	for i, off := range offs {
		binary.LittleEndian.PutUint64(c.b[off>>c.shift][off&c.mask:], src[i])
	}
	return nil
}

// Sync writes back what the write workloads dirtied, like flat's.
func (c *chunkSlices) Sync() error {
	var err error
	for i, m := range c.maps {
		err = errors.Join(err, m.Flush(), c.files[i].Sync())
	}
	return err
}

func (c *chunkSlices) Close() error {
	var err error
	for _, m := range c.maps {
		err = errors.Join(err, m.Unmap())
	}
	for _, f := range c.files {
		err = errors.Join(err, f.Close())
	}
	c.files, c.maps, c.b = nil, nil, nil
	return err
}

// guardFloor is flat read and written through guardedLoad and
// guardedStore, one non-inlined call per value that checks the offset,
// turns debug.SetPanicOnFault on and back off, and recovers a fault in a
// deferred call around the one load or store: the least a per-call fault
// guard can cost, whatever the library does besides. Its random kernels
// call it once per value.
type guardFloor struct {
	flat
}

func openGuardFloor(d Dataset) (Contender, error) {
	c, err := openFlat(d)
	if err != nil {
		return nil, err
	}
	return &guardFloor{*c.(*flat)}, nil
}

func (c *guardFloor) ReadUint64s(offs []int64, dst []uint64) error {
	b := []byte(c.m)
	dst = dst[:len(offs)]
	for i, off := range offs {
		x, err := guardedLoad(b, off)
		if err != nil {
			return err
		}
		dst[i] = x
	}
	return nil
}

func (c *guardFloor) WriteUint64s(offs []int64, src []uint64) error {
	b := []byte(c.m)
	src = src[:len(offs)]
	for i, off := range offs {
		if err := guardedStore(b, off, src[i]); err != nil {
			return err
		}
	}
	return nil
}

var errGuardRange = errors.New("bench: guardfloor: offset out of range")

// guardedLoad returns the little-endian uint64 at b[off:], or an error if
// off is out of range or the load faults.
//
//go:noinline
func guardedLoad(b []byte, off int64) (x uint64, err error) {
	if off < 0 || off > int64(len(b))-8 {
		return 0, errGuardRange
	}
	var done bool
	defer endGuard(debug.SetPanicOnFault(true), &done, &err)
	x = binary.LittleEndian.Uint64(b[off:])
	done = true
	return x, nil
}

// guardedStore stores x, little endian, at b[off:], or returns an error if
// off is out of range or the store faults.
//
//go:noinline
func guardedStore(b []byte, off int64, x uint64) (err error) {
	if off < 0 || off > int64(len(b))-8 {
		return errGuardRange
	}
	var done bool
	defer endGuard(debug.SetPanicOnFault(true), &done, &err)
	binary.LittleEndian.PutUint64(b[off:], x)
	// Without a use of memory between the store and the return, go1.26's
	// dead store elimination drops the open-coded defer's "armed" bit,
	// set before the store and cleared at the return, so a fault in the
	// store is not recovered (TestGuardFloor catches it). KeepAlive
	// keeps the bit, for a few moves of the slice to the stack.
	runtime.KeepAlive(b)
	done = true
	return nil
}

// endGuard restores the fault mode and, unless the guarded access got as
// far as setting *done (no fault can have happened then), recovers: it
// turns a fault on mapped memory into *err, as chunkmap's guard does, and
// lets any other panic go on. Skipping recover when done is the cheapest
// guard found: a call into the runtime fewer per access (chunkmap's
// single-access paths do the same).
func endGuard(prev bool, done *bool, err *error) {
	debug.SetPanicOnFault(prev)
	if *done {
		return
	}
	if r := recover(); r != nil {
		*err = faultError(r)
	}
}

// catchFault restores the fault mode and turns a fault on mapped memory
// into *err, as chunkmap's guard does; any other panic goes on.
func catchFault(prev bool, err *error) {
	debug.SetPanicOnFault(prev)
	if r := recover(); r != nil {
		*err = faultError(r)
	}
}

// faultError returns the error for r, a recovered fault on mapped memory;
// any other panic value it panics with again.
func faultError(r any) error {
	a, ok := r.(interface{ Addr() uintptr })
	if !ok {
		panic(r)
	}
	return fmt.Errorf("bench: guardfloor: fault at address %#x", a.Addr())
}

// scopeFloor is flat read and written the way a Batch is: one fault guard
// per kernel call, and each access through a method of a scope object,
// inlined into the kernel's loop, that checks the offset against a window
// of mapped bytes kept in the object's fields and returns the bytes (the
// window is the whole flat mapping, so no access leaves it). It is the
// least such a scope can cost per access: Batch checks the same window,
// plus two words that tell whether it is still valid, and keeps more than
// one chunk in it. A scope object is reached through a pointer (its
// window moves when an access leaves it), so Go loads the window's fields
// again on every access: the loop stores each value it reads, and Go does
// not keep a load from memory in a register across a store that might
// alias it.
type scopeFloor struct {
	flat
}

func openScopeFloor(d Dataset) (Contender, error) {
	c, err := openFlat(d)
	if err != nil {
		return nil, err
	}
	return &scopeFloor{*c.(*flat)}, nil
}

// floorScope is scopeFloor's scope object: the n bytes from offset lo,
// mapped at p.
type floorScope struct {
	lo int64
	n  uint64
	p  unsafe.Pointer
}

// bytes returns the n bytes at off, or an error if they leave the window.
// Small enough to be inlined (miss is a parameter for the inliner's sake,
// as in chunkmap's Batch).
func (s *floorScope) bytes(off int64, n int) (p []byte, err error) {
	p, err = floorBytes(s, off, n, (*floorScope).miss)
	return
}

func floorBytes(s *floorScope, off int64, n int, miss func(*floorScope, int64, int) ([]byte, error)) (p []byte, err error) {
	if o := uint64(off - s.lo); o < s.n && uint64(n) <= s.n-o {
		return unsafe.Slice((*byte)(unsafe.Add(s.p, o)), n), nil
	}
	p, err = miss(s, off, n)
	return
}

func (s *floorScope) miss(off int64, n int) ([]byte, error) {
	return nil, fmt.Errorf("%w: %d bytes at %d", errScopeRange, n, off)
}

var errScopeRange = errors.New("bench: scopefloor: offset out of range")

// scope runs fn with a scope over the whole mapping under one fault guard.
func (c *scopeFloor) scope(fn func(*floorScope) error) (err error) {
	s := &floorScope{n: uint64(len(c.m)), p: unsafe.Pointer(unsafe.SliceData(c.m))}
	defer catchFault(debug.SetPanicOnFault(true), &err)
	return fn(s)
}

func (c *scopeFloor) ReadUint64s(offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	return c.scope(func(s *floorScope) error {
		for i, off := range offs {
			p, err := s.bytes(off, 8)
			if err != nil {
				return err
			}
			dst[i] = binary.LittleEndian.Uint64(p)
		}
		return nil
	})
}

func (c *scopeFloor) WriteUint64s(offs []int64, src []uint64) error {
	src = src[:len(offs)]
	return c.scope(func(s *floorScope) error {
		for i, off := range offs {
			p, err := s.bytes(off, 8)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(p, src[i])
		}
		return nil
	})
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

// readSlice is ReadAt over one slice.
func readSlice(b, p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, fmt.Errorf("bench: read at offset %d: out of range", off)
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readUint64s and writeUint64s are flat's random kernels over one slice.
func readUint64s(b []byte, offs []int64, dst []uint64) error {
	dst = dst[:len(offs)]
	for i, off := range offs {
		dst[i] = binary.LittleEndian.Uint64(b[off:])
	}
	return nil
}

func writeUint64s(b []byte, offs []int64, src []uint64) error {
	src = src[:len(offs)]
	for i, off := range offs {
		binary.LittleEndian.PutUint64(b[off:], src[i])
	}
	return nil
}
