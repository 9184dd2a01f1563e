package chunkmap

// This file holds Batch: many accesses under one fault guard, with a hit path
// of plain loads.

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Batch is a scope, opened by [Manager.Batch], in which any number of
// accesses share one fault guard. Its accessors return mapped bytes
// directly, so a loop of typed reads over a Batch costs little more than
// the same loop over one flat mapping.
//
// While any Batch is open, chunks that the LRU evicts (or that Truncate,
// DropBefore or Close delete) stay mapped until the last Batch ends, so the
// bytes a Batch hands out stay valid until its function returns: like pinned
// chunks, they may take the mapped total past MaxMapped. Keep batches short.
//
// A Batch must not be used after its function returns, nor by more than one
// goroutine at a time.
type Batch struct {
	m       *Manager
	t       *table // loaded after the batch was counted; refreshed on a miss
	writing bool   // counted in m.wbatches
}

var batchPool = sync.Pool{New: func() any { return new(Batch) }}

// Batch calls fn with a Batch and returns fn's error. A fault on mapped
// memory inside fn (a chunk file truncated by another process, an I/O error)
// ends fn at once and Batch returns an error matching ErrFault; stores fn
// made before the fault stay made.
func (m *Manager) Batch(fn func(b *Batch) error) error {
	if m.closed.Load() {
		return m.errorf("batch", 0, 0, ErrClosed, "")
	}
	// Counting the batch before it loads the table means an eviction that
	// unpublishes a chunk and then finds no batch open cannot race with
	// this one: the batch can only load the table after the unpublish.
	m.batches.Add(1)
	b := batchPool.Get().(*Batch)
	*b = Batch{m: m, t: m.table.Load()}
	f, err := runBatch(b, fn)
	if b.writing {
		m.wbatches.Add(-1)
	}
	*b = Batch{}
	batchPool.Put(b)
	m.endBatch()
	if f.hit {
		return m.onFault(f, "batch", 0)
	}
	return err
}

// runBatch runs fn under the fault guard.
func runBatch(b *Batch, fn func(*Batch) error) (f fault, err error) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	return f, fn(b)
}

// endBatch releases the mappings that waited for the last open batch.
func (m *Manager) endBatch() {
	if m.batches.Add(-1) > 0 || m.unretired.Load() == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retireWaitingLocked()
	m.reclaimLocked(false)
}

// Bytes returns the n bytes at offset off for reading, straight from the
// mapping. They are valid until the Batch's function returns and must not
// be stored to. [off, off+n) must lie within [Start, Size) and within one
// chunk; otherwise Bytes returns ErrOutOfRange.
func (b *Batch) Bytes(off int64, n int) ([]byte, error) {
	m := b.m
	o := off & m.mask
	if n >= 0 && int64(n) <= m.chunkSize-o && off >= m.start.Load() && off+int64(n) <= m.size.Load() {
		if s := b.t.slot(off >> m.shift); s != nil {
			if mp := s.Load(); mp != nil {
				return mp.data[o : o+int64(n) : o+int64(n)], nil
			}
		}
	}
	p, _, err := b.slow(off, n, "batch read")
	return p, err
}

// WritableBytes is Bytes for storing: the caller may write the n bytes
// returned, and a Sync that starts after the store makes it durable. A
// Batch does not extend the dataset: [off, off+n) must already lie within
// [Start, Size). On a ReadOnly Manager it returns ErrReadOnly.
func (b *Batch) WritableBytes(off int64, n int) ([]byte, error) {
	m := b.m
	if !b.writing {
		if m.opts.ReadOnly {
			return nil, m.errorf("batch write", off, n, ErrReadOnly, "")
		}
		// Counted before any dirty flag is read: see flushLocked.
		m.wbatches.Add(1)
		b.writing = true
	}
	o := off & m.mask
	if n >= 0 && int64(n) <= m.chunkSize-o && off >= m.start.Load() && off+int64(n) <= m.size.Load() {
		if s := b.t.slot(off >> m.shift); s != nil {
			if mp := s.Load(); mp != nil {
				if !mp.dirty.Load() {
					m.markDirty(mp)
				}
				return mp.data[o : o+int64(n) : o+int64(n)], nil
			}
		}
	}
	p, mp, err := b.slow(off, n, "batch write")
	if err == nil && !mp.dirty.Load() {
		m.markDirty(mp)
	}
	return p, err
}

// slow checks the range, maps the chunk of off if need be, reloads the
// table, and returns the bytes and the mapping they are in. The mapping
// stays mapped until the batch ends, even if it is evicted meanwhile.
func (b *Batch) slow(off int64, n int, op string) ([]byte, *mapping, error) {
	m := b.m
	if m.closed.Load() {
		return nil, nil, m.errorf(op, off, n, ErrClosed, "")
	}
	if err := m.checkRange(op, off, n); err != nil {
		return nil, nil, err
	}
	if boundary := (off | m.mask) + 1; off+int64(n) > boundary {
		return nil, nil, m.errorf(op, off, n, ErrOutOfRange,
			fmt.Sprintf("range crosses the chunk boundary at offset %d", boundary))
	}
	o := off & m.mask
	if s := b.t.slot(off >> m.shift); s != nil {
		if mp := s.Load(); mp != nil {
			return mp.data[o : o+int64(n) : o+int64(n)], mp, nil
		}
	}
	mp, err := m.lookup(off, op)
	if err != nil {
		return nil, nil, err
	}
	b.t = m.table.Load() // the table may have grown
	return mp.data[o : o+int64(n) : o+int64(n)], mp, nil
}
