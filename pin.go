package chunkmap

// This file holds the pin API: mapped bytes handed out for zero-copy access,
// guaranteed to stay mapped until released.

import (
	"fmt"
	"time"
	"unsafe"
)

// Pinned is a range of mapped bytes that stays mapped until Release, whatever
// the LRU wants: the chunk under it is never unmapped while pinned, even by
// Truncate, DropBefore or Close (its file may already be deleted then).
//
// A Pinned must not be copied; pass a pointer. Release is idempotent on a
// given Pinned. Methods of one Pinned must not be called concurrently, but
// its bytes may be used by many goroutines until Release.
type Pinned struct {
	b     []byte
	mp    *mapping
	m     *Manager
	write bool
}

// Pin returns the bytes [off, off+n) of the dataset pinned in place, for
// reading. The range must lie within [Start, Size) and within one chunk;
// otherwise Pin returns ErrOutOfRange, naming the chunk boundary it crosses.
// Storing to the bytes of a read pin is not allowed (on a ReadOnly Manager it
// faults).
func (m *Manager) Pin(off int64, n int) (Pinned, error) {
	return m.pin(off, n, false)
}

// PinWritable is Pin for bytes the caller will store to. A Sync that starts
// after a store through the pinned bytes makes it durable. On a ReadOnly
// Manager it returns ErrReadOnly.
func (m *Manager) PinWritable(off int64, n int) (Pinned, error) {
	// checkWrite reports ErrClosed first, then ErrReadOnly, then a failed
	// Sync: stores through the pin would be in doubt like any write.
	if err := m.checkWrite("pin", off, max(n, 0)); err != nil {
		return Pinned{}, err
	}
	return m.pin(off, n, true)
}

func (m *Manager) pin(off int64, n int, write bool) (Pinned, error) {
	if m.closed.Load() {
		return Pinned{}, m.errorf("pin", off, n, ErrClosed, "")
	}
	if err := m.checkRange("pin", off, n); err != nil {
		return Pinned{}, err
	}
	if boundary := (off | m.mask) + 1; n > 0 && off+int64(n) > boundary {
		return Pinned{}, m.errorf("pin", off, n, ErrOutOfRange,
			fmt.Sprintf("range crosses the chunk boundary at offset %d", boundary))
	}
	// Fast path: the chunk is mapped; take a pin without the lock.
	if s := m.table.Load().slot(off >> m.shift); s != nil {
		if mp := s.Load(); mp != nil {
			mp.pins.Add(1)
			if !mp.retiring.Load() {
				return m.pinned(mp, off, n, write), nil
			}
			m.unpin(mp)
		}
	}
	for {
		mp, err := m.lookup(off, "pin")
		if err != nil {
			return Pinned{}, err
		}
		// Under mu no eviction runs, but the lookup released it; an
		// eviction may have claimed the mapping since.
		mp.pins.Add(1)
		if !mp.retiring.Load() {
			return m.pinned(mp, off, n, write), nil
		}
		m.unpin(mp)
	}
}

func (m *Manager) pinned(mp *mapping, off int64, n int, write bool) Pinned {
	if write {
		// Counted before the flag is read, and Sync clears the flag
		// before it reads the count: one of the two sees the other, so
		// the chunk is queued either way (see flushLocked).
		mp.wpins.Add(1)
		if !mp.dirty.Load() {
			m.markDirty(mp)
		}
	}
	o := off & m.mask
	return Pinned{b: mp.data[o : o+int64(n) : o+int64(n)], mp: mp, m: m, write: write}
}

// checkRange checks that [off, off+n) lies within [Start, Size).
func (m *Manager) checkRange(op string, off int64, n int) error {
	switch start, size := m.start.Load(), m.size.Load(); {
	case n < 0:
		return m.errorf(op, off, n, ErrOutOfRange, "negative length")
	case off < 0:
		return m.errorf(op, off, n, ErrOutOfRange, "negative offset")
	case int64(n) > maxOffset-off:
		return m.errorf(op, off, n, ErrOutOfRange, "end overflows int64")
	case off < start:
		return m.errorf(op, off, n, ErrOutOfRange, fmt.Sprintf("below start %d", start))
	case off+int64(n) > size || (n == 0 && off >= size):
		return m.errorf(op, off, n, ErrOutOfRange, fmt.Sprintf("past size %d", size))
	}
	return nil
}

// Bytes returns the pinned bytes. The slice stays valid, and its bytes
// mapped, until Release; it must not be used after that.
func (p *Pinned) Bytes() []byte { return p.b }

// Release unpins the bytes; the chunk may be unmapped again after it.
// Calling Release again, or on a zero Pinned, does nothing.
func (p *Pinned) Release() {
	if p.mp == nil {
		return
	}
	if p.write {
		// Stores made since Pin must reach the next Sync even if a Sync
		// in between cleared the flag.
		if !p.mp.dirty.Load() {
			p.m.markDirty(p.mp)
		}
		p.mp.wpins.Add(-1)
	}
	p.m.unpin(p.mp)
	p.mp, p.b = nil, nil
}

// unpin drops one pin of mp, and unmaps it if it was deleted while pinned and
// this was the last pin.
func (m *Manager) unpin(mp *mapping) {
	if mp.pins.Add(-1) > 0 || !mp.doomed.Load() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if mp.pins.Load() > 0 || mp.gone {
		return
	}
	for i, d := range m.mu.doomed {
		if d == mp {
			m.mu.doomed = append(m.mu.doomed[:i], m.mu.doomed[i+1:]...)
			break
		}
	}
	m.retireLocked(mp)
	if unmapBeforeRemove {
		m.reclaimLocked(true)
		m.removeLaterLocked()
		return
	}
	m.reclaimLocked(m.closed.Load())
}

// dataAddr returns the address of b's first byte; unsafe is needed to
// compare it with the address a fault reports.
func dataAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// contains reports whether addr lies within b.
func contains(b []byte, addr uintptr) bool {
	base := dataAddr(b)
	return addr >= base && addr-base < uintptr(len(b))
}

func sleepBriefly() { time.Sleep(100 * time.Microsecond) }
