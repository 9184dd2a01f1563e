package chunkmap

// This file holds spread writes: the bytes of a growth write that spans
// several small chunks are written to their chunk files on two goroutines,
// the caller's and a writer of the Manager's. A pwrite takes the lock of
// the file it writes, not the directory's, so two writes to two new chunk
// files run side by side, while one goroutine writing every chunk in turn
// (and the maker creating their files, ahead.go) leaves a core idle.
//
// The writer never sees the caller's buffer: the caller copies the pieces
// the writer is to write into staging buffers of the Manager's first, so
// that the caller's buffer does not escape to the heap (a goroutine given
// it would make every WriteAt's and Append's buffer escape, those of the
// small calls that allocate nothing too: see TestWriteAtSmallNoAlloc).
// Copying 64 KiB costs a few microseconds, a pwrite of it to a new file
// several times that.
//
// Either goroutine may write a staged piece: each piece is claimed once,
// with a compare-and-swap, so a writer whose thread is slow to wake (it can
// take longer than writing a piece) costs only the copies; the caller
// writes what the writer has not claimed once its own pieces are done, and
// then waits for the one piece the writer may be writing. The writer takes
// no lock the caller holds: the caller holds resize for reading (it is a
// write), which the writer's pieces are covered by, and takes mu only
// through fileIO, as the writer does.
//
// Only growth writes are spread (extend's bytes past the previous
// reservation): a failed piece leaves the pieces after it written or not,
// and past the old reservation those bytes are given back or zeroed with
// the range (see publish and reserveLocked), or, where a later claim keeps
// the range in the dataset, they are what was written of p at its own
// offsets, as Append allows.

import (
	"sync"
	"sync/atomic"
)

const (
	// spreadPieces is the least pieces (chunks) a write must span to be
	// spread: with fewer, the copies and the wake-up of the writer
	// outweigh what the second goroutine writes.
	spreadPieces = 4
	// spreadChunk is the largest chunk size whose pieces are spread;
	// larger chunks take few pieces per write, each a long pwrite of its
	// own, and staging copies of them would cost memory.
	spreadChunk = 1 << 20
	// spreadMax is the most pieces one spreading pass takes; a longer
	// write is spread a pass at a time, which bounds the staging memory
	// (spreadMax/2 pieces).
	spreadMax = 32
)

// spread is one pass of a spread write: its pieces, and what became of
// each.
type spread struct {
	m     *Manager
	off   int64                  // the dataset offset of the pass's first byte
	ends  [spreadMax]int         // piece i is [ends[i-1], ends[i]) of the pass's bytes (ends[-1] = 0)
	taken [spreadMax]atomic.Bool // claimed by the caller or the writer
	n     [spreadMax]int
	errs  [spreadMax]error
	stage [spreadMax]*[]byte // the staged copy of each odd piece, from m.stages
	// ready carries the odd pieces staged, in order, then -1 once all
	// are.
	ready chan int
	done  sync.WaitGroup // the writer's run
	stop  atomic.Bool    // set on a failure: later pieces are not begun
	// panicked is what the writer recovered from a panic of the file
	// system, for the caller to panic with once the writer is done.
	panicked any
}

// writeGrown writes p at off, bytes past the previous reservation (see
// extend), spreading the pieces of a write across several small chunks over
// two goroutines; n counts the bytes written from off on up to the first
// failed piece.
func (m *Manager) writeGrown(p []byte, off int64) (int, error) {
	if len(p) >= growWrite && len(p) < bulkWrite {
		return m.writeFiles(p, off)
	}
	if m.chunkSize > spreadChunk || len(p) < bulkWrite {
		return m.writeIn(p, off, false)
	}
	n := 0
	for n < len(p) {
		// The pass ends at a chunk boundary, after at most spreadMax
		// pieces.
		o := off + int64(n)
		end := len(p)
		if most := m.chunkSize - o&m.mask + (spreadMax-1)*m.chunkSize; int64(len(p)-n) > most {
			end = n + int(most)
		}
		var k int
		var err error
		if pieces := (o+int64(end-n)-1)>>m.shift - o>>m.shift + 1; pieces < spreadPieces {
			k, err = m.writeIn(p[n:end], o, false)
		} else {
			k, err = m.spreadWrite(p[n:end], o)
		}
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// spreadWrite writes p (spreadPieces to spreadMax pieces) at off on this
// goroutine and a writer.
func (m *Manager) spreadWrite(p []byte, off int64) (int, error) {
	// A pass is made new for each, not pooled: its channel and WaitGroup
	// belong to the testing/synctest bubble, if any, that makes them, and
	// a pass taken from a pool by a write in another bubble, or outside,
	// would end the process at its first send. It costs an allocation
	// per up to spreadMax pieces written.
	s := &spread{m: m, off: off, ready: make(chan int, spreadMax)}
	np := 0
	for at := 0; at < len(p); np++ {
		at += int(min(int64(len(p)-at), m.chunkSize-(off+int64(at))&m.mask))
		s.ends[np] = at
	}
	s.done.Add(1)
	go s.writer()
	ended, finished := false, false
	defer func() {
		// Should a piece panic here, the writer is stopped before the
		// panic goes on: extend gives the range back as it unwinds, and
		// no piece may be written after that.
		if !finished {
			s.stop.Store(true)
			if !ended {
				s.ready <- -1
			}
			s.done.Wait()
		}
	}()
	for i := 0; i < np; i++ {
		if i%2 == 1 {
			continue // the writer's
		}
		if i+1 < np && !s.stop.Load() {
			b := m.stages.Get().(*[]byte)
			lo, hi := s.ends[i], s.ends[i+1]
			// p is the caller's, and may be memory that faults (a
			// mapping of a file another program cut): the copy is
			// guarded, as every copy from a caller's buffer is. A
			// piece that faults is not staged but left to this
			// goroutine, whose pwrite from p then fails with EFAULT
			// (or ErrFault, for a pin of this dataset) as a write of
			// that piece alone would.
			if f := copyGuarded((*b)[:hi-lo], p[lo:hi]); f.hit {
				m.stages.Put(b)
			} else {
				*b = (*b)[:hi-lo]
				s.stage[i+1] = b
				s.ready <- i + 1
			}
		}
		s.claim(i, p)
	}
	s.ready <- -1
	ended = true
	// The pieces the writer has not claimed are written here, from p.
	for i := 1; i < np; i += 2 {
		s.claim(i, p)
	}
	s.done.Wait()
	if s.panicked != nil {
		// The deferred cleanup above runs as this unwinds; the writer
		// is done, and extend gives the range back.
		panic(s.panicked)
	}
	// n counts the pieces written whole, in order, and the part of the
	// first that was not; err is the first piece's error that stopped the
	// pass (a piece not begun was stopped by a failure of a later one,
	// begun first on the other goroutine).
	n := 0
	for i := 0; i < np; i++ {
		n += s.n[i]
		if s.errs[i] != nil || !s.taken[i].Load() {
			break
		}
	}
	var err error
	for i := range s.errs[:np] {
		if s.errs[i] != nil {
			err = s.errs[i]
			break
		}
	}
	for _, b := range s.stage[:np] {
		if b != nil {
			m.stages.Put(b)
		}
	}
	finished = true
	return n, err
}

// claim writes piece i from the caller's p (or, on the writer, from its
// staged copy, when p is nil) unless the other goroutine claimed it, or a
// piece failed before.
func (s *spread) claim(i int, p []byte) {
	if s.stop.Load() || !s.taken[i].CompareAndSwap(false, true) {
		return
	}
	lo := 0
	if i > 0 {
		lo = s.ends[i-1]
	}
	var src []byte
	if p != nil {
		src = p[lo:s.ends[i]]
	} else {
		src = *s.stage[i]
	}
	off := s.off + int64(lo)
	s.m.awaitAhead(off >> s.m.shift)
	k, err := s.m.writeFiles(src, off)
	s.n[i], s.errs[i] = k, err
	if err != nil {
		s.stop.Store(true)
	}
}

// writer is the Manager's goroutine of one spread pass: it writes the
// staged pieces the caller has not claimed, in order.
func (s *spread) writer() {
	defer s.done.Done()
	defer func() {
		// Nothing above this goroutine could recover a panic of the
		// file system, which would end the process: the pass stops
		// instead, and the caller panics with the value once the writer
		// is done. (ready has room for every piece, so the caller never
		// waits for a writer that stopped reading.)
		if r := recover(); r != nil {
			s.panicked = r
			s.stop.Store(true)
		}
	}()
	for i := <-s.ready; i >= 0; i = <-s.ready {
		s.claim(i, nil)
	}
}
