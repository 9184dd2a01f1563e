package chunkmap

// This file holds pipelined growth: the chunk files a bulk write needs are
// created on a goroutine of the Manager's, the maker, while the write fills
// the first of them. Creating a file takes the directory's lock in the
// kernel (about 10 µs on tmpfs, far more on some disks) and a pwrite of a
// 64 KiB chunk does not, so with small chunks the creation overlaps the
// writing instead of adding to it.
//
// A bulk claim (claimLocked) that grows by more than one chunk creates the
// first new chunk itself and hands the rest, [from, end), to the maker:
// they count as chunks of the dataset at once (nchunks covers them), but
// their files are owed. Every use of a chunk's file goes through openChunk,
// which settles an owed chunk first (settleLocked): it waits while the
// maker is making it, takes the file if the maker made it, and otherwise
// (the maker failed) creates it, so the error reaches the call that needed
// the file. Owed chunks lie past reserved's old value, hence past Size: no
// reader, follower or Sync can need them before the write or another
// growth does.
//
// The owed chunks are always those of the latest growth: every growth
// (growLocked, which every claim and Grow runs) settles all of them first.
// So a bulk write that fails and gives its range back, with no growth
// since, unmakes them (cancelLocked stops the maker first); one that
// succeeds settled those it wrote, and settles the rest of its own (the
// chunks wholly in the gap of a write past Size) before it publishes,
// leaving those of a later claim's growth to that claim's write; and when
// the writes return no chunk is owed. Files made ahead of need are never left in the
// directory.
//
// Ownership of a file: the maker creates only chunk next, and only while
// next < end and it has not failed; settleLocked creates a chunk only when
// the maker is not running, has failed before it, or has not begun it (it
// then moves next past it, under mu, so the maker goes on after it). A
// chunk file is thus created by exactly one of them, with O_EXCL.
//
// Locks: ahead.mu, besides m.mu. The maker never holds ahead.mu while it
// creates a file, and takes no other lock, so a caller holding m.mu may
// wait for it (lock order: m.mu, then ahead.mu).

import (
	"io/fs"
	"slices"
	"sync"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/cond"
)

// The states of an owed chunk.
const (
	owed    = iota // not made yet
	made           // the maker made it: in files
	settled        // taken by settleLocked, or created there
)

// ahead holds the chunks owed by the latest growth and the state of their
// maker.
type ahead struct {
	// from and end bound the owed chunks; from == end when none are. They
	// change only under both m.mu and mu, so a holder of either may read
	// them: the growth paths, which hold m.mu, see that nothing is owed
	// without taking mu.
	from, end int64

	mu sync.Mutex
	// changed is signalled when the maker finishes a file or stops.
	changed cond.Cond
	// state, files and infos, indexed by chunk - from: what became of
	// each, and the file the maker made (kept open while fewer than keep
	// are, else closed and known by its identity); left counts the
	// chunks not settled, and open the files kept open. keep is aheadOpen
	// until a refusal of descriptors takes the files back (closeAhead).
	state []uint8
	files []*chunk.File
	infos []fs.FileInfo
	left  int
	open  int
	keep  int
	// next is the chunk the maker makes next; it stops at end, or at the
	// first failure (failed). It changes running to false under mu in the
	// step that makes the last file or fails (or settleLocked does, taking
	// over the last chunk from a maker that has not begun), so once every
	// chunk is settled (or the maker was cancelled) no maker runs but,
	// perhaps, one that has not begun and will find its run over (run),
	// and the next growth's maker is the only one.
	next    int64
	running bool
	failed  bool
	// making is set while the maker creates chunk next; settleLocked
	// creates next itself while it is not (see settleLocked). run counts
	// the makers started: one whose run has ended before it began finds
	// a later run's number, and stops at once.
	making bool
	run    uint64
}

// oweLocked hands the files of chunks [from, end) to the maker, after a
// growth that counted them.
//
// REQUIRES: m.mu held; no chunk owed, so no maker running (a maker that
// never began, every chunk of its run taken over, finds its run over).
func (m *Manager) oweLocked(from, end int64) {
	a := &m.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	n := int(end - from)
	a.from, a.end, a.next, a.failed, a.left = from, end, from, false, n
	a.state = slices.Grow(a.state[:0], n)[:n]
	a.files = slices.Grow(a.files[:0], n)[:n]
	a.infos = slices.Grow(a.infos[:0], n)[:n]
	clear(a.state) // owed
	clear(a.files)
	clear(a.infos)
	a.open, a.keep = 0, aheadOpen
	a.running = true
	a.run++
	go m.makeAhead(a.run)
}

// makeAhead is the maker: it creates the owed chunk files in order until
// the last, or until a creation fails, which it leaves to settleLocked to
// retry and report.
func (m *Manager) makeAhead(run uint64) {
	a := &m.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.run != run {
		// Every chunk of its run was taken over before it began
		// (settleLocked), and another run has begun since: not its own.
		return
	}
	for !a.failed && a.next < a.end {
		idx := a.next
		a.making = true
		a.mu.Unlock()
		f, err := chunk.Create(m.fsys, m.dir, idx, m.chunkSize, m.opts.FileMode)
		a.mu.Lock()
		a.making = false
		if err != nil {
			a.failed = true
			break
		}
		i := idx - a.from
		a.infos[i], a.state[i] = f.Info(), made
		if a.open < a.keep {
			a.files[i] = f
			a.open++
		} else {
			// A growth across a gap of thousands of chunks would
			// otherwise hold a descriptor for each: the write opens
			// this one by name when it gets there.
			f.Close()
		}
		a.next = idx + 1
		a.changed.Broadcast()
	}
	a.running = false
	a.changed.Broadcast()
}

// settleLocked makes sure chunk idx, if owed, has its file, and returns it
// if this call got it open from the maker or created it (the caller then
// owns it); nil with no error means idx is not owed, was settled before,
// or was made and closed by the maker, and its file is opened by name.
//
// REQUIRES: m.mu held.
func (m *Manager) settleLocked(idx int64) (*chunk.File, error) {
	a := &m.ahead
	if idx < a.from || idx >= a.end {
		return nil, nil
	}
	a.mu.Lock()
	for a.running && !a.failed && idx >= a.next {
		if idx == a.next && !a.making {
			// The maker has not begun it: its thread may still be
			// waking, which can take longer than creating the file
			// (about 150 µs against 15 on a virtual machine). The
			// chunk is taken over, and the maker goes on after it.
			a.next = idx + 1
			if a.next == a.end {
				// Nothing is left for the maker, which has not
				// begun: its run is over (see makeAhead).
				a.running = false
				a.changed.Broadcast()
			}
			break
		}
		a.changed.Wait() // a few system calls away: the maker is making it, or one before it
	}
	i := idx - a.from
	st, f, info := a.state[i], a.files[i], a.infos[i]
	a.mu.Unlock()
	switch st {
	case settled:
		return nil, nil
	case owed:
		// The maker failed before it, and stopped, or has not begun it:
		// create it here, as growth does (a leftover file under the name
		// included), and report a failure, leaving it owed.
		var err error
		if f, err = m.createFileLocked(idx); err != nil {
			return nil, err
		}
		info = f.Info()
	}
	a.mu.Lock()
	if a.files[i] != nil {
		a.open--
	}
	a.state[i], a.files[i], a.infos[i] = settled, nil, nil
	if a.left--; a.left == 0 {
		a.from, a.end = 0, 0
	}
	a.mu.Unlock()
	m.adoptLocked(idx, info)
	return f, nil
}

// awaitAhead waits, holding no lock but ahead.mu, while the maker is on
// its way to chunk idx: so that a piece of a spread write (spread.go) does
// not wait for its file in settleLocked, under m.mu, holding up the pieces
// on the other goroutine. It returns at once where settleLocked would not
// wait: idx is not owed, or is the maker's next chunk and not begun (to be
// taken over), or the maker stopped.
//
// REQUIRES: m.mu not held.
func (m *Manager) awaitAhead(idx int64) {
	a := &m.ahead
	a.mu.Lock()
	for a.running && !a.failed && idx >= a.next && idx < a.end && (idx > a.next || a.making) {
		a.changed.Wait()
	}
	a.mu.Unlock()
}

// aheadOpen is the most files the maker keeps open for the write to take;
// those it makes beyond are closed, and opened again by name.
const aheadOpen = 16

// closeAheadLocked closes the files the maker keeps open for the write to
// take, and keeps it from keeping more until the next growth: a refusal of
// descriptors asks them back (giveBackFilesLocked), as it asks
// back the idle files of the cache. They are not in the cache's budget,
// and a bulk write over a process near its limit would otherwise fail for
// want of descriptors its own growth holds. Each is then known by its
// identity and opened by name when the write gets there, as those the
// maker makes beyond aheadOpen are. It reports whether it closed any.
//
// REQUIRES: m.mu held (so no settleLocked holds a file it took).
func (m *Manager) closeAheadLocked() (closed bool) {
	a := &m.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keep = 0
	for i, f := range a.files {
		if f != nil {
			f.Close()
			a.files[i] = nil
			closed = true
		}
	}
	a.open = 0
	return closed
}

// settleAllLocked settles every owed chunk, keeping their files open in the
// descriptor cache as growth does, and returns the first error creating one.
//
// REQUIRES: m.mu held.
func (m *Manager) settleAllLocked() error {
	return m.settleRangeLocked(m.ahead.from, m.ahead.end)
}

// settleRangeLocked is settleAllLocked for the owed chunks among [from, to)
// alone: those of one claim's growth, which a write that succeeded settles
// (extend). Chunks owed past them are a later claim's, whose write needs
// them; a failure to create one is that write's error, not this one's.
//
// REQUIRES: m.mu held.
func (m *Manager) settleRangeLocked(from, to int64) error {
	a := &m.ahead
	for idx, end := max(from, a.from), min(to, a.end); idx < end; idx++ {
		f, err := m.settleLocked(idx)
		if err != nil {
			return err
		}
		if f != nil {
			m.adviseFile(f, true) // as createLocked's
			// A file that cannot be closed is still the chunk's: it is
			// opened by name when needed.
			_ = m.keepFdLocked(idx, f)
		}
	}
	return nil
}

// owesLocked reports whether a chunk is owed.
//
// REQUIRES: m.mu held.
func (m *Manager) owesLocked() bool { return m.ahead.from < m.ahead.end }

// cancelLocked stops the maker, waits for it, and closes the files it made
// that were not settled; nothing is owed afterwards. It returns the owed
// chunks whose files neither the maker nor settleLocked created: their
// names may be taken by entries of somebody else's (a leftover directory,
// a FIFO: what made the creation fail), so the caller, which removes the
// owed chunks' files (unmakeLocked), must leave those names alone. Close
// needs no call: no chunk is owed, so no maker runs, once the writes have
// finished.
//
// REQUIRES: m.mu held.
func (m *Manager) cancelLocked() (never []int64) {
	a := &m.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failed = true
	for a.running {
		a.changed.Wait()
	}
	for i, f := range a.files {
		if f != nil {
			f.Close()
			a.files[i] = nil
		}
	}
	a.open = 0
	for i, st := range a.state[:a.end-a.from] {
		if st == owed {
			never = append(never, a.from+int64(i))
		}
	}
	a.from, a.end, a.left = 0, 0, 0
	return never
}

// adoptLocked records a chunk file growth has just created (itself, or by
// the maker), whose identity is id: its writes are for the next Sync to
// fsync, with the directory, as the file's name is not durable yet.
//
// REQUIRES: m.mu held.
func (m *Manager) adoptLocked(idx int64, id fs.FileInfo) {
	delete(m.mu.ids, idx) // a new file: not the one a leftover entry names
	m.markFileDirtyLocked(idx, id)
	m.mu.dirDirty = true
}

// keepFdLocked keeps f, chunk idx's file, open in the descriptor cache, in
// place of any idle file of the chunk cached before, or closes it if the
// process's budget has no room for it or a call uses the one cached: a new
// file, for the pwrites and allocations that follow growth; an evicted
// mapping's, for the mapping or pread that follows (takeFdLocked). Either
// saves an open and a stat of it by name.
//
// REQUIRES: m.mu held.
func (m *Manager) keepFdLocked(idx int64, f *chunk.File) error {
	if e := m.mu.fds[idx]; e != nil && e.refs > 0 {
		// A call uses the chunk's cached file (a pwrite, say, that began
		// before the chunk was mapped): it stays. Dropped, it would be
		// dead, which says its chunk was deleted, and a pwrite through it
		// would be marked for no Sync (markPwriteLocked).
		return f.Close()
	}
	if m.fdRoomLocked(1) {
		m.dropFdLocked(idx)
		m.cacheFdLocked(idx, &fdEntry{f: f, idx: idx})
		return nil
	}
	return f.Close()
}
