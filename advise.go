package chunkmap

// This file holds access-pattern hints: Options.Advice for the whole
// dataset, and Manager.Advise for a range.

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/arena"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// Advice is an access-pattern hint for the kernel (madvise(2) for mapped
// chunks, posix_fadvise(2) for the files read and written with pread and
// pwrite). Hints change speed, never results; where the platform has no
// such call they do nothing.
type Advice int

const (
	// AdviceNormal is the kernel's default read-ahead.
	AdviceNormal Advice = iota
	// AdviceRandom turns read-ahead off: right for random access to data
	// that is not in memory, where read-ahead reads pages nobody asked for.
	AdviceRandom
	// AdviceSequential asks for aggressive read-ahead and early reclaim of
	// pages already read: right for a scan.
	AdviceSequential
	// AdviceWillNeed asks the kernel to start reading the range now, all
	// of it: Linux reads no more than the larger of a file's read-ahead
	// window and its device's largest request of one such hint, so
	// [Manager.Advise] gives it in pieces of that size (128 KiB where the
	// device does not say: 8,192 system calls a GiB), without holding
	// the Manager's lock. As [Options.Advice] it is one hint per chunk as
	// the chunk is mapped, and per chunk file the Manager opens (not one
	// it creates, which holds nothing to read): the kernel reads in the
	// first window of each.
	AdviceWillNeed
	// AdviceDontNeed lets the kernel drop the range's pages: from this
	// process's mappings, and for chunks that are not mapped from the page
	// cache (clean pages only). The data stays in the files.
	AdviceDontNeed
)

// String returns the advice's name.
func (a Advice) String() string {
	switch a {
	case AdviceNormal:
		return "normal"
	case AdviceRandom:
		return "random"
	case AdviceSequential:
		return "sequential"
	case AdviceWillNeed:
		return "will-need"
	case AdviceDontNeed:
		return "dont-need"
	}
	return fmt.Sprintf("Advice(%d)", int(a))
}

func (a Advice) arena() arena.Advice {
	switch a {
	case AdviceRandom:
		return arena.Random
	case AdviceSequential:
		return arena.Sequential
	case AdviceWillNeed:
		return arena.WillNeed
	case AdviceDontNeed:
		return arena.DontNeed
	}
	return arena.Normal
}

func (a Advice) chunk() chunk.Advice {
	switch a {
	case AdviceRandom:
		return chunk.Random
	case AdviceSequential:
		return chunk.Sequential
	case AdviceWillNeed:
		return chunk.WillNeed
	case AdviceDontNeed:
		return chunk.DontNeed
	}
	return chunk.Normal
}

// Advise gives the kernel a hint for the bytes [off, off+n), which must lie
// within [Start, Size): for the chunks mapped now through their mappings,
// and for the others through their files, which is where ReadAt and WriteAt
// reach chunks that are not mapped (and where a mapping made later reads
// from). Chunks mapped later get [Options.Advice], not this hint. Advise may
// run in parallel with every other method. A chunk that fails (cut off by a
// concurrent Truncate, say) does not stop the hint for the others; the
// error is the first such chunk's.
func (m *Manager) Advise(off, n int64, advice Advice) error {
	// A closed Manager first, as for every other call: ErrClosed is the
	// answer to any call after Close, whatever its arguments.
	if !m.live.Load() {
		return m.errorf("advise", at(off, n), ErrClosed, "")
	}
	if advice < AdviceNormal || advice > AdviceDontNeed {
		return m.errorf("advise", at(off, n), ErrOutOfRange, fmt.Sprintf("unknown advice %d", int(advice)))
	}
	if n < 0 {
		return m.errorf("advise", at(off, n), ErrOutOfRange, "negative length")
	}
	if off < 0 {
		// Refused whatever n is, as by every other call.
		return m.errorf("advise", at(off, n), ErrOutOfRange, "negative offset")
	}
	if err := m.follow("advise", at(off, n)); err != nil {
		return err
	}
	// An empty range too must lie within [Start, Size), as for Pin.
	if d := m.rangeDetail(off, n); d != "" {
		return m.errorf("advise", at(off, n), ErrOutOfRange, d)
	}
	// A hint that fails for one chunk is still given to the others; the
	// error is the first chunk's (those after a chunk cut off meanwhile
	// usually fail alike), so that the message names the call once.
	var first error
	for o := off; o < off+n; {
		idx := o >> m.shift
		k := min(off+n-o, m.chunkSize-o&m.mask)
		if err := m.adviseChunk(idx, o&m.mask, k, advice); err != nil && first == nil {
			first = err
		}
		o += k
	}
	if first != nil {
		return m.wrapErr("advise", at(off, n), first)
	}
	return nil
}

// adviseChunk gives the hint for bytes [o, o+n) of chunk idx.
func (m *Manager) adviseChunk(idx, o, n int64, advice Advice) error {
	m.mu.Lock()
	e, err := m.adviseMappedLocked(idx, o, n, advice)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	if advice == AdviceWillNeed {
		// A WillNeed hint is a system call per piece the kernel reads
		// whole (see internal/chunk): a GiB on a disk that reads ahead
		// 128 KiB takes 8,192, and submits the reads of what is not
		// cached. The reference to e keeps its file open meanwhile, as
		// for a pread, and mu is free for every other call.
		m.mu.Unlock()
		err = e.f.Fadvise(o, n, advice.chunk())
		m.mu.Lock()
	} else {
		err = e.f.Fadvise(o, n, advice.chunk())
	}
	m.releaseFdLocked(e)
	m.mu.Unlock()
	return err
}

// adviseMappedLocked checks that chunk idx is there, gives the hint to its
// mapping if it is mapped, and returns its file, with a reference the
// caller gives back with releaseFdLocked.
//
// REQUIRES: m.mu held.
func (m *Manager) adviseMappedLocked(idx, o, n int64, advice Advice) (*fdEntry, error) {
	if err := m.checkChunksLocked(idx<<m.shift+o, int(n)); err != nil {
		return nil, err
	}
	if mp := m.mappingLocked(idx); mp != nil {
		// madvise wants a page-aligned start; every ChunkSize is a
		// multiple of the page size.
		page := int64(os.Getpagesize())
		lo := o &^ (page - 1)
		if err := arena.Advise(unsafe.Add(m.slotAddr(int64(mp.k)), lo), o+n-lo, advice.arena()); err != nil {
			return nil, err
		}
	}
	e, err := m.fdLocked(idx)
	if err != nil {
		return nil, chunkError(err)
	}
	return e, nil
}
