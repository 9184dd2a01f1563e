package chunkmap

// This file holds Gather and Scatter: many small reads or writes at
// scattered offsets under one fault guard, in one tight loop.

import (
	"fmt"
	"runtime/debug"
	"unsafe"
)

// Gather reads len(offs) values of n bytes each, the k-th from offset
// offs[k], into dst[k*n:(k+1)*n]. len(dst) must be at least len(offs)*n.
// Every value must lie wholly within [Start, Size); otherwise Gather returns
// ErrOutOfRange naming the first offending offset, after filling dst for the
// offsets before it. Values may straddle chunk boundaries.
//
// Gather exists for random access at memory speed: the values are copied
// under one fault guard per 256, with no lock and no locked instruction, in
// two passes: one that resolves every offset to its mapped address (loads
// that hit the cache), then one that copies from those addresses, whose
// cache misses are independent of each other, so the processor overlaps
// them as it does in a loop over one flat mapping. Gather may run in
// parallel with every other method; it does not retain dst or offs.
func (m *Manager) Gather(dst []byte, offs []int64, n int) error {
	if err := m.checkGather("gather", len(dst), len(offs), n); err != nil {
		return err
	}
	return m.gatherScatter("gather", dst, offs, n, false)
}

// Scatter writes len(offs) values of n bytes each, the k-th from
// src[k*n:(k+1)*n] to offset offs[k]. Every value must lie wholly within
// [Start, Size): Scatter does not extend the dataset. On an error it returns
// ErrOutOfRange (or ErrReadOnly, ErrClosed, ErrFault) after writing the
// values before the offending one. Like Gather it resolves addresses first
// and stores second, under one fault guard per 256 values.
func (m *Manager) Scatter(src []byte, offs []int64, n int) error {
	if err := m.checkGather("scatter", len(src), len(offs), n); err != nil {
		return err
	}
	if err := m.checkWrite("scatter", 0, 0); err != nil {
		return err
	}
	return m.gatherScatter("scatter", src, offs, n, true)
}

// gatherScatter runs Gather (or, with write, Scatter) over checked
// arguments: a block at a time through the hot path, and one value at a
// time through ReadAt's or WriteAt's general path where the hot path stops.
func (m *Manager) gatherScatter(op string, buf []byte, offs []int64, n int, write bool) error {
	var used [gatherBlock]*mapping
	for i := 0; i < len(offs); {
		block := offs[i:min(i+gatherBlock, len(offs))]
		var k int
		var f fault
		if write {
			k, f = m.hotScatter(buf[i*n:], block, n, &used)
		} else {
			k, f = m.hotGather(buf[i*n:], block, n, &used)
		}
		if write {
			for _, mp := range used[:k] {
				if !mp.dirty.Load() {
					m.markDirty(mp)
				}
			}
		}
		i += k
		if f.hit {
			err := m.onFault(f.in(used[:]), op, offs[i])
			if err != nil && write {
				// Values before the one that faulted were stored;
				// which chunks they went to is known only as far as
				// used holds this block's mappings, and marking one
				// more than needed costs just an fsync.
				for _, mp := range used {
					if mp != nil && !mp.dirty.Load() {
						m.markDirty(mp)
					}
				}
			}
			if err != nil {
				return err
			}
			continue
		}
		if i == len(offs) || k == gatherBlock {
			continue
		}
		// The slow path: a value outside the range, straddling a
		// boundary, or in a chunk that is not mapped.
		off := offs[i]
		if err := m.checkRange(op, off, n); err != nil {
			return err
		}
		var err error
		if write {
			_, err = m.write(buf[i*n:(i+1)*n], off)
		} else {
			_, err = m.read(buf[i*n:(i+1)*n], off)
		}
		if err != nil {
			return err
		}
		i++
	}
	return nil
}

func (m *Manager) checkGather(op string, nbuf, noffs, n int) error {
	if m.closed.Load() {
		return m.errorf(op, 0, n, ErrClosed, "")
	}
	if n <= 0 || n > MinChunkSize {
		return m.errorf(op, 0, n, ErrOutOfRange, fmt.Sprintf("value size %d outside [1, %d]", n, MinChunkSize))
	}
	if noffs > nbuf/n {
		return m.errorf(op, 0, n, ErrOutOfRange, fmt.Sprintf("%d values of %d bytes do not fit a %d-byte buffer", noffs, n, nbuf))
	}
	return nil
}

// gatherBlock is how many values hotGather resolves before it copies them.
const gatherBlock = 256

// hotGather copies up to gatherBlock values, stopping before the first that
// is outside [Start, Size), straddles a chunk boundary or lies in a chunk
// that is not mapped, and returns how many it copied. Like hotRead it takes
// no lock and executes no locked instruction. used receives the mapping of
// each value, for onFault; after a fault the result is 0 and the caller
// redoes the block, which is harmless for reads.
func (m *Manager) hotGather(dst []byte, offs []int64, n int, used *[gatherBlock]*mapping) (done int, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	// Pass 1: resolve offsets to mapped addresses. Every load here hits
	// the cache; none depends on a value still in flight from memory.
	var addr [gatherBlock]unsafe.Pointer
	k := m.resolve(offs, n, used, &addr)
	// Pass 2: copy. The loads are independent, so their misses overlap.
	switch n {
	case 8:
		for i := range addr[:k] {
			*(*[8]byte)(dst[i*8:]) = *(*[8]byte)(addr[i])
		}
	case 4:
		for i := range addr[:k] {
			*(*[4]byte)(dst[i*4:]) = *(*[4]byte)(addr[i])
		}
	default:
		for i := range addr[:k] {
			copy(dst[i*n:(i+1)*n], unsafe.Slice((*byte)(addr[i]), n))
		}
	}
	return k, f
}

// resolve fills addr and used with the mapped address and the mapping of
// each n-byte value at offs, stopping before the first that is outside
// [Start, Size), straddles a chunk boundary or lies in a chunk that is not
// mapped, and returns how many it resolved. It must be called from a hot*
// method, whose frame covers the addresses for the stack walk.
func (m *Manager) resolve(offs []int64, n int, used *[gatherBlock]*mapping, addr *[gatherBlock]unsafe.Pointer) int {
	t := m.table.Load()
	start, size := m.start.Load(), m.size.Load()
	shift, mask, last := m.shift, m.mask, m.chunkSize-int64(n)
	for k, off := range offs {
		o := off & mask
		if off < start || off > size-int64(n) || o > last {
			return k
		}
		s := t.slot(off >> shift)
		if s == nil {
			return k
		}
		mp := s.Load()
		if mp == nil {
			return k
		}
		used[k] = mp
		addr[k] = unsafe.Pointer(&mp.data[o])
	}
	return len(offs)
}

// hotScatter is hotGather's twin for stores, in the same two passes. As for
// hotWrite, the caller checks the chunks' dirty flags after the stores and
// marks the clean ones, outside the hot frame. Redoing the block after a
// fault writes the same bytes again.
func (m *Manager) hotScatter(src []byte, offs []int64, n int, used *[gatherBlock]*mapping) (done int, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	var addr [gatherBlock]unsafe.Pointer
	k := m.resolve(offs, n, used, &addr)
	switch n {
	case 8:
		for i := range addr[:k] {
			*(*[8]byte)(addr[i]) = *(*[8]byte)(src[i*8:])
		}
	case 4:
		for i := range addr[:k] {
			*(*[4]byte)(addr[i]) = *(*[4]byte)(src[i*4:])
		}
	default:
		for i := range addr[:k] {
			copy(unsafe.Slice((*byte)(addr[i]), n), src[i*n:(i+1)*n])
		}
	}
	return k, f
}
