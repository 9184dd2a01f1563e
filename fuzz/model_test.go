// Package fuzz holds the fuzz targets of chunkmap: FuzzOps compares
// sequences of operations on a Manager with a plain in-memory model of the
// same bytes, FuzzBatch does the same with batches among them (each access
// of a Batch and of an accessor Batch, and calls of the Manager from inside
// the batch's function, checked as they happen), FuzzAccess with the
// calls the other two leave out among them (Gather and Scatter, the
// atomics, the accessor's bulk, gather, scatter, Slice and scan calls),
// FuzzOpsX runs FuzzOps's operations on datasets with the options those
// leave at their defaults (Start past chunk 0, Scratch, Advice) and adds
// Advise and a follower's Refresh, FuzzFar runs them on a dataset that
// starts at 1 TiB or so near math.MaxInt64 that its last chunk ends at
// 2⁶³ (every range that would end past it refused), and FuzzOpen feeds
// Open directories that the fuzzer has corrupted. It is made only of test
// files and uses only exported API.
package fuzz

// This file holds the model: the semantics of a dataset written down as
// plainly as possible, with no chunks, mappings or files.

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/chunkmap/chunkmap"
)

// model is a dataset held in memory. It knows chunks only as far as the
// semantics do: Start is a multiple of ChunkSize, the Manager counts chunk
// files [first, first+nchunks), and chunk files [first, first+files) exist.
// A read-write Manager made all of them (files == nchunks); Open counts
// only those Size needs, and a read-only Open leaves the others in place.
//
// It also knows what a power loss may leave: the newest record of the
// manifest, which Sync writes and which Truncate and DropBefore lower or
// raise before they delete chunk files, has Start start and a Size within
// [recLo, recHi].
type model struct {
	chunkSize int64
	data      []byte // bytes [0, len(data)); every byte at or past size is zero
	size      int64
	start     int64
	nchunks   int64 // chunk files the Manager counts, from start/chunkSize on
	files     int64 // chunk files in the directory, from start/chunkSize on
	closed    bool
	readOnly  bool
	recLo     int64 // the newest record's Size is at least this,
	recHi     int64 // and at most this
}

func newModel(chunkSize int64) *model {
	return &model{chunkSize: chunkSize}
}

// ceilChunks returns how many chunks cover [0, end).
func (m *model) ceilChunks(end int64) int64 {
	return (end + m.chunkSize - 1) / m.chunkSize
}

func (m *model) first() int64 { return m.start / m.chunkSize }

// grow records that chunk files exist up to the one holding end-1.
func (m *model) grow(end int64) {
	m.nchunks = max(m.nchunks, m.ceilChunks(end)-m.first())
	m.files = m.nchunks
}

// needed returns how many chunk files from the first cover Size.
func (m *model) needed() int64 { return m.ceilChunks(m.size) - m.first() }

// setSize changes Size; bytes past the new Size become zero, so that they
// read as zero if Size is extended over them again.
func (m *model) setSize(size int64) {
	if size > int64(len(m.data)) {
		m.data = append(m.data, make([]byte, size-int64(len(m.data)))...)
	}
	clear(m.data[size:])
	m.size = size
}

// checkWrite is what every mutating call checks first, in this order.
func (m *model) checkWrite(off int64, n int) error {
	switch {
	case m.closed:
		return chunkmap.ErrClosed
	case m.readOnly:
		return chunkmap.ErrReadOnly
	case off < 0, int64(n) > math.MaxInt64-off:
		return chunkmap.ErrOutOfRange
	}
	return nil
}

// ReadAt follows io.ReaderAt: a read that fills p returns nil, a short read
// at Size io.EOF. An empty p reads nothing and succeeds at any offset that
// is not negative. An end past math.MaxInt64 is out of range.
func (m *model) ReadAt(p []byte, off int64) (int, error) {
	switch {
	case m.closed:
		return 0, chunkmap.ErrClosed
	case off < 0, int64(len(p)) > math.MaxInt64-off:
		return 0, chunkmap.ErrOutOfRange
	case len(p) == 0:
		return 0, nil
	case off < m.start:
		return 0, chunkmap.ErrOutOfRange
	case off >= m.size:
		return 0, io.EOF
	}
	n := copy(p, m.data[off:m.size])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off; a write past Size zero-fills the gap and
// extends Size. A zero-length write changes nothing.
func (m *model) WriteAt(p []byte, off int64) (int, error) {
	if err := m.checkWrite(off, len(p)); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off < m.start {
		return 0, chunkmap.ErrOutOfRange
	}
	end := off + int64(len(p))
	if end > m.size {
		m.grow(end)
		m.setSize(end)
	}
	copy(m.data[off:], p)
	return len(p), nil
}

// Append writes p at Size (where the reserved bytes end when no append is
// in flight) and returns that offset.
func (m *model) Append(p []byte) (int64, error) {
	if err := m.checkWrite(0, 0); err != nil {
		return 0, err
	}
	off := m.size
	if len(p) == 0 {
		return off, nil
	}
	if int64(len(p)) > math.MaxInt64-off {
		return 0, chunkmap.ErrOutOfRange
	}
	if _, err := m.WriteAt(p, off); err != nil {
		return 0, err
	}
	return off, nil
}

// Grow creates chunk files for n more bytes past Size and changes neither
// data nor Size.
func (m *model) Grow(n int64) error {
	if err := m.checkWrite(m.size, 0); err != nil {
		return err
	}
	if n < 0 || n > math.MaxInt64-m.size {
		return chunkmap.ErrOutOfRange
	}
	m.grow(m.size + n)
	return nil
}

// Truncate sets Size, not below Start. Chunk files wholly past the new Size
// are deleted, spare ones Grow made included; extending creates them.
func (m *model) Truncate(size int64) error {
	if err := m.checkWrite(size, 0); err != nil {
		return err
	}
	if size < m.start {
		return chunkmap.ErrOutOfRange
	}
	if size >= m.size {
		m.grow(size)
		m.nchunks = min(m.nchunks, m.ceilChunks(size)-m.first())
		m.files = m.nchunks
	} else {
		m.nchunks = min(m.nchunks, m.ceilChunks(size)-m.first())
		m.files = m.nchunks
		m.recLo = min(m.recLo, size)
	}
	m.setSize(size)
	return nil
}

// DropBefore drops the chunks wholly below off: Start becomes off rounded
// down to a multiple of ChunkSize, and never moves down. Dropping past Size
// is out of range.
func (m *model) DropBefore(off int64) error {
	if err := m.checkWrite(off, 0); err != nil {
		return err
	}
	if off > m.size {
		return chunkmap.ErrOutOfRange
	}
	start := off / m.chunkSize * m.chunkSize
	if start <= m.start {
		return nil
	}
	m.nchunks -= (start - m.start) / m.chunkSize
	m.files = m.nchunks
	clear(m.data[:start])
	m.start = start
	m.recLo, m.recHi = max(m.recLo, start), max(m.recHi, start)
	return nil
}

// Sync records Size and Start in the manifest; it is a no-op on a
// read-only dataset.
func (m *model) Sync() error {
	if m.closed {
		return chunkmap.ErrClosed
	}
	if !m.readOnly {
		m.recLo, m.recHi = m.size, m.size
	}
	return nil
}

// Close syncs (unless read-only) and makes every later call fail with
// ErrClosed, Close included.
func (m *model) Close() error {
	if err := m.Sync(); err != nil {
		return err
	}
	m.closed = true
	return nil
}

// Reopen is a successful Open of the closed dataset: data, Size and Start
// are what Close left. The Manager counts the chunk files Size needs; a
// read-write Open removes those past them, a read-only one ignores them.
func (m *model) Reopen(readOnly bool) {
	m.closed = false
	m.readOnly = readOnly
	m.nchunks = m.needed()
	if !readOnly {
		m.files = m.nchunks
	}
}

// Pin checks a Pin (or, with write, a PinWritable) of n bytes at off: the
// range must lie within [Start, Size); it may cross chunk boundaries.
func (m *model) Pin(off int64, n int, write bool) error {
	switch {
	case m.closed:
		return chunkmap.ErrClosed
	case write && m.readOnly:
		return chunkmap.ErrReadOnly
	case n < 0, off < 0, int64(n) > math.MaxInt64-off, off < m.start:
		return chunkmap.ErrOutOfRange
	case off+int64(n) > m.size, n == 0 && off >= m.size:
		return chunkmap.ErrOutOfRange
	}
	return nil
}

// errClass names the class of err: which sentinel it matches. io.EOF counts
// only when returned bare, as io.ReaderAt requires.
func errClass(err error) string {
	switch {
	case err == nil:
		return "nil"
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, io.EOF):
		return fmt.Sprintf("wrapped EOF (%v)", err)
	}
	for _, s := range []struct {
		name string
		err  error
	}{
		{"ErrClosed", chunkmap.ErrClosed},
		{"ErrReadOnly", chunkmap.ErrReadOnly},
		{"ErrOutOfRange", chunkmap.ErrOutOfRange},
		{"ErrCorrupt", chunkmap.ErrCorrupt},
		{"ErrLocked", chunkmap.ErrLocked},
		{"ErrInvalidOptions", chunkmap.ErrInvalidOptions},
		{"ErrUnaligned", chunkmap.ErrUnaligned},
		{"ErrFault", chunkmap.ErrFault},
		{"ErrNoSpace", chunkmap.ErrNoSpace},
		{"ErrBusy", chunkmap.ErrBusy},
		{"ErrIO", chunkmap.ErrIO},
		{"ErrSyncFailed", chunkmap.ErrSyncFailed},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return fmt.Sprintf("unclassified (%v)", err)
}
