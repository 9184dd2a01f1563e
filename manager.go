package chunkmap

// Invariants (each holds whenever mu is not held):
//
//   - Chunk files [first, first+nchunks) exist, each ChunkSize bytes, with no
//     gap; Start = first*ChunkSize <= Size <= reserved <= capacity =
//     (first+nchunks)*ChunkSize.
//   - A mapping is published in the table exactly while it is live: mapped,
//     in the LRU, and counted in mapped. Only mu holders publish or
//     unpublish.
//   - A mapping is unmapped only after it was unpublished, its pin count
//     was seen at zero after retiring was set, and no goroutine is inside a
//     hot* method (see guard.go). Between unpublishing and unmapping it is
//     retired (its pages replaced by an inaccessible reservation where the
//     platform allows) and waits in graveyard.
//   - A chunk stored to through a mapping that is no longer live, or written
//     with pwrite, is in dirty until a Sync fsyncs it.
//   - Bytes at or past hwm are zero in every chunk file; bytes in
//     [reserved, hwm) may hold stale data (from before a Truncate, or
//     unsynced writes before a crash) and are zeroed before Size covers them.
//
// Lock order: resize, then syncMu, then mu. The hot paths take none of them.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// maxOffset is the largest offset a dataset may reach.
const maxOffset = math.MaxInt64

// graveyardLimit is how many retired mappings wait before the Manager walks
// the goroutine stacks to release them. Retired mappings hold only address
// space, so waiting is cheap and amortises the walk.
const graveyardLimit = 8

// Manager is a growable dataset of fixed-size, memory-mapped chunk files that
// behaves like one file which never has to be remapped.
//
// A Manager is safe for concurrent use by multiple goroutines, Close
// included; calls after Close return ErrClosed. A Manager must not be
// copied.
//
// At most [Options.MaxMapped] chunks are mapped at once, plus any chunks
// pinned beyond that: the least recently used unpinned chunk is unmapped to
// make room, and pinned chunks are never unmapped, so MaxMapped is exceeded
// (never waited on) while more chunks than that are pinned.
type Manager struct {
	dir       string
	opts      Options
	chunkSize int64
	shift     uint
	mask      int64

	closed atomic.Bool
	size   atomic.Int64
	start  atomic.Int64
	table  atomic.Pointer[table]
	// failed holds the first msync or fsync error; every later Sync and
	// write returns it, because after a failed fsync the kernel may have
	// dropped the dirty pages and nothing can be promised about them.
	failed atomic.Pointer[error]

	hits, misses, maps, unmaps, evictions atomic.Int64

	// batches counts open Batch scopes. While it is not zero, mappings
	// taken out of use are neither retired nor unmapped (a Batch may hold
	// their bytes); unretired counts those waiting.
	batches   atomic.Int32
	unretired atomic.Int32
	// wbatches counts open batches that have asked for writable bytes;
	// they set dirty flags before their stores, so Sync may not leave a
	// flag cleared while one is open (see flushLocked).
	wbatches atomic.Int32

	// resize is held shared by calls that extend the dataset (Append, a
	// WriteAt past Size, Grow) for their whole duration, and exclusively by
	// calls that shrink it (Truncate, DropBefore, Close), so a shrink never
	// interleaves with a half-done extension.
	resize sync.RWMutex
	// syncMu serialises Sync and Close.
	syncMu sync.Mutex

	mu struct {
		sync.Mutex
		lock      *dirLock
		lru       *simplelru.LRU[int64, *mapping] // live mappings, by recency
		live      []*mapping                      // the same, in no order; scanned without allocating
		graveyard []*mapping                      // retired, awaiting unmap
		doomed    []*mapping                      // deleted while pinned; unmapped at last unpin
		dirty     map[int64]struct{}              // chunks to fsync by index: pwritten, or stored to through a retired mapping
		// dirtyq holds the mappings whose dirty flag was set since the
		// last Sync took the queue, so that Sync costs in proportion to
		// the dirty chunks, not the mapped ones (see markDirty).
		dirtyq   []*mapping
		first    int64 // index of the first chunk
		nchunks  int64
		reserved int64            // end of the bytes handed to writers
		hwm      int64            // bytes at or past hwm are zero
		pending  map[int64]int64  // appends done out of order: off -> end
		freq     map[int64]uint16 // recent misses per unmapped chunk (admit.go)
		ticks    int              // counts since freq last halved
		unfolded int              // misses since the last foldUsedLocked (admit.go)
		victim   *mapping         // the mapped chunk admission would replace (admit.go)
		fds      map[int64]*fdEntry
		fdLimit  int                   // the most files fds holds (see fileBudget)
		stacks   []byte                // reused by anyHotFrameLocked
		scratch  map[int64]*chunk.File // Options.Scratch: every chunk, unmapped
		// removeLater holds chunks deleted while pinned whose files wait
		// for the last unpin (only where unmapBeforeRemove).
		removeLater map[int64]struct{}
		durable     manifest // what the manifest on disk says
	}
}

// mapping is one mapped chunk.
type mapping struct {
	data  []byte // the whole chunk; never changes while published
	file  *chunk.File
	index int64

	used     atomic.Bool  // accessed since the last eviction scan
	dirty    atomic.Bool  // stored to since the last Sync
	pins     atomic.Int32 // Pinned values outstanding
	wpins    atomic.Int32 // those of them writable
	retiring atomic.Bool  // an eviction or deletion claimed it; no new pins
	doomed   atomic.Bool  // its chunk was deleted while pinned

	queued  bool   // in Manager.mu.dirtyq; protected by Manager.mu
	live    int    // position in Manager.mu.live while live; protected by Manager.mu
	freq    uint16 // Manager.mu.freq's count while live; protected by Manager.mu
	gone    bool   // retired or unmapped; protected by Manager.mu
	waiting bool   // in the graveyard, not yet retired; protected by Manager.mu
}

// table maps chunk indices to live mappings. Readers load it without a
// lock; mu holders store into slots, and replace the table when it must
// cover other indices.
type table struct {
	first int64
	slots []atomic.Pointer[mapping]
}

func (t *table) slot(index int64) *atomic.Pointer[mapping] {
	i := uint64(index - t.first)
	if i >= uint64(len(t.slots)) {
		return nil
	}
	return &t.slots[i]
}

func log2(n int64) uint { return uint(bits.TrailingZeros64(uint64(n))) }

// Open opens the dataset in directory dir, creating the directory and an
// empty dataset if they do not exist (unless opts.ReadOnly). A nil opts
// means all defaults.
//
// Open maps nothing, and its cost grows linearly with the number of chunk
// files. It checks the whole directory before it changes anything: a
// directory that does not hold a consistent dataset gives ErrCorrupt and is
// left exactly as it was. On success a read-write Open removes what a crash
// can leave behind: temporary files, and chunks below the first one that a
// DropBefore had not yet deleted. Files it does not recognise are left
// alone.
//
// A read-write Open locks the directory (flock on Unix, LockFileEx on
// Windows); while it is open, another read-write Open, in this process or
// another, returns ErrLocked. A ReadOnly Open takes no lock: any number of
// readers coexist with each other and with the one writer, and follow it
// with [Manager.Refresh].
func Open(dir string, opts *Options) (*Manager, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if o.Scratch {
		return openScratch(dir, o)
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(dir, dirMode(o.FileMode)); err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, err)
		}
	} else if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open %s: %w: not a directory", dir, ErrCorrupt)
	}
	var lock *dirLock
	if !o.ReadOnly {
		if lock, err = lockDir(dir, true); err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, err)
		}
	}
	m, err := open(dir, o)
	// A ReadOnly Open holds no lock, so the writer's Truncate or DropBefore
	// may delete chunks after the manifest was read; the manifest then says
	// so, and reading it again settles it (Refresh does the same).
	for tries := 1; err != nil && o.ReadOnly && tries < 3 &&
		(errors.Is(err, ErrCorrupt) || errors.Is(err, fs.ErrNotExist)); tries++ {
		m, err = open(dir, o)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open %s: %w", dir, err), lock.unlock())
	}
	m.mu.lock = lock
	return m, nil
}

func dirMode(perm os.FileMode) os.FileMode {
	return perm | (perm&0o444)>>2
}

// open reads and checks the dataset in dir, cleans up after a crash, and
// returns its Manager. The caller holds the directory lock.
func open(dir string, o Options) (*Manager, error) {
	// The manifest is read before the directory is listed: a writer in
	// another process creates chunks before it records a Size that needs
	// them, so a ReadOnly Open that listed first could miss chunks that
	// the manifest it read next needs.
	mf, mfErr := readManifest(dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var (
		chunks       []int64
		temps        []string
		haveManifest bool
		irregular    map[int64]bool // chunk names that are not regular files
		create       bool           // no dataset yet: write its manifest
	)
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == ManifestName:
			haveManifest = true
		case name == manifestTemp || chunk.IsTemp(name):
			// Only a regular file can be a leftover of ours. Anything
			// else (a directory) blocks a name the writer needs, and
			// removing it could fail halfway through the cleanup, after
			// other files were removed: refuse before changing anything.
			if !e.Type().IsRegular() {
				if !o.ReadOnly {
					return nil, fmt.Errorf("%w: %s is not a regular file (mode %v)", ErrCorrupt,
						filepath.Join(dir, name), e.Type())
				}
				continue
			}
			temps = append(temps, name)
		default:
			if i, ok := chunk.ParseName(name); ok {
				chunks = append(chunks, i)
				if !e.Type().IsRegular() { // left alone below first
					if irregular == nil {
						irregular = make(map[int64]bool)
					}
					irregular[i] = true
				}
			}
		}
	}

	switch {
	case haveManifest:
		if mfErr != nil {
			return nil, mfErr
		}
		if o.ChunkSize != 0 && o.ChunkSize != mf.chunkSize {
			return nil, fmt.Errorf("%w: ChunkSize %d, but the dataset's chunk size is %d", ErrInvalidOptions, o.ChunkSize, mf.chunkSize)
		}
	case len(chunks) > 0:
		return nil, fmt.Errorf("%w: %d chunk files but no %s", ErrCorrupt, len(chunks), ManifestName)
	case o.ReadOnly:
		return nil, fmt.Errorf("%w: no dataset to open (%s missing)", ErrReadOnly, ManifestName)
	default:
		mf = manifest{chunkSize: o.ChunkSize}
		if mf.chunkSize == 0 {
			mf.chunkSize = DefaultChunkSize
		}
		create = true
	}

	if err := o.fitMapped(mf.chunkSize); err != nil {
		return nil, err
	}
	// A new dataset's manifest is written only once the options are known
	// to be acceptable, so that an Open refused for them writes nothing.
	if create {
		if err := writeManifest(dir, mf, o.FileMode); err != nil {
			return nil, err
		}
	}

	// Chunks below first are left by a DropBefore that crashed after its
	// manifest write; chunks from first on must follow each other without a
	// gap and cover Size.
	shift := log2(mf.chunkSize)
	slices.Sort(chunks)
	var stale []int64
	for len(chunks) > 0 && chunks[0] < mf.first {
		if !irregular[chunks[0]] { // not ours: never created below first
			stale = append(stale, chunks[0])
		}
		chunks = chunks[1:]
	}
	for k, idx := range chunks {
		if want := mf.first + int64(k); idx != want {
			return nil, fmt.Errorf("%w: chunk file %s is missing (found %s after it)", ErrCorrupt,
				filepath.Join(dir, chunk.Name(want)), chunk.Name(idx))
		}
	}
	nchunks := int64(len(chunks))
	if need := chunksFor(mf.size, shift); mf.first+nchunks < need {
		return nil, fmt.Errorf("%w: chunk file %s is missing (size %d needs chunks up to %d)", ErrCorrupt,
			filepath.Join(dir, chunk.Name(mf.first+nchunks)), mf.size, need-1)
	}
	for _, idx := range chunks {
		path := filepath.Join(dir, chunk.Name(idx))
		fi, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() || fi.Size() != mf.chunkSize {
			return nil, fmt.Errorf("%w: chunk file %s: %d bytes (%v), want a regular file of %d", ErrCorrupt,
				path, fi.Size(), fi.Mode().Type(), mf.chunkSize)
		}
	}

	if !o.ReadOnly && len(temps)+len(stale) > 0 {
		for _, name := range temps {
			if err := removeFile(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		}
		for _, idx := range stale {
			if err := removeFile(filepath.Join(dir, chunk.Name(idx))); err != nil {
				return nil, err
			}
		}
		if err := chunk.SyncDir(dir); err != nil {
			return nil, err
		}
	}

	return newManager(dir, o, mf, nchunks), nil
}

// newManager returns the Manager of a checked dataset described by mf, with
// nchunks chunk files from mf.first.
func newManager(dir string, o Options, mf manifest, nchunks int64) *Manager {
	shift := log2(mf.chunkSize)
	m := &Manager{
		dir:       dir,
		opts:      o,
		chunkSize: mf.chunkSize,
		shift:     shift,
		mask:      mf.chunkSize - 1,
	}
	m.opts.ChunkSize = mf.chunkSize
	m.size.Store(mf.size)
	m.start.Store(mf.first << shift)
	// NewLRU fails only for a size below 1. The Manager bounds the mapped
	// count itself (pinned chunks may exceed MaxMapped), so the LRU's own
	// bound must never evict.
	m.mu.lru, _ = simplelru.NewLRU[int64, *mapping](math.MaxInt32, nil)
	m.mu.scratch = make(map[int64]*chunk.File)
	m.mu.removeLater = make(map[int64]struct{})
	m.mu.dirty = make(map[int64]struct{})
	m.mu.pending = make(map[int64]int64)
	m.mu.freq = make(map[int64]uint16)
	m.mu.fds = make(map[int64]*fdEntry)
	m.mu.fdLimit = fileBudget()
	m.mu.first = mf.first
	m.mu.nchunks = nchunks
	m.mu.reserved = mf.size
	// Unsynced writes before a crash may have left data past Size anywhere
	// in the existing chunks.
	m.mu.hwm = (mf.first + nchunks) << shift
	m.mu.durable = mf
	m.table.Store(newTable(mf.first, nchunks))
	return m
}

// openScratch returns an empty scratch Manager in dir (Options.Scratch).
func openScratch(dir string, o Options) (*Manager, error) {
	if err := os.MkdirAll(dir, dirMode(o.FileMode)); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	mf := manifest{chunkSize: o.ChunkSize}
	if mf.chunkSize == 0 {
		mf.chunkSize = DefaultChunkSize
	}
	if err := o.fitMapped(mf.chunkSize); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return newManager(dir, o, mf, 0), nil
}

// openChunk opens chunk idx unmapped: by name, or for a scratch dataset,
// which has no names, as a clone of the descriptor kept since its creation.
func (m *Manager) openChunk(idx int64, mode chunk.Mode) (*chunk.File, error) {
	if m.opts.Scratch {
		f := m.mu.scratch[idx]
		if f == nil {
			return nil, fmt.Errorf("scratch chunk %d: %w", idx, fs.ErrNotExist)
		}
		return f.Clone()
	}
	return chunk.Open(m.dir, idx, m.chunkSize, mode)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// newTable returns an empty table for chunks from first, with room for at
// least n of them.
func newTable(first, n int64) *table {
	return &table{first: first, slots: make([]atomic.Pointer[mapping], max(n, 16))}
}

// ChunkSize returns the size of each chunk file in bytes.
func (m *Manager) ChunkSize() int64 { return m.chunkSize }

// Size returns the logical length of the dataset: one past the highest byte
// written, or as set by Truncate. Bytes of an Append still in progress are
// not counted until every earlier Append has finished.
func (m *Manager) Size() int64 { return m.size.Load() }

// Start returns the first readable offset: 0 until DropBefore, and always a
// multiple of ChunkSize.
func (m *Manager) Start() int64 { return m.start.Load() }

// ReadOnly reports whether the Manager was opened with [Options.ReadOnly].
func (m *Manager) ReadOnly() bool { return m.opts.ReadOnly }

// Dir returns the dataset's directory.
func (m *Manager) Dir() string { return m.dir }

var (
	_ io.ReaderAt = (*Manager)(nil)
	_ io.WriterAt = (*Manager)(nil)
)

// ReadAt implements [io.ReaderAt]. It copies len(p) bytes from offset off
// into p. A read that reaches past Size returns the bytes before Size and
// io.EOF; a read that fills p returns a nil error. Reading below Start
// returns ErrOutOfRange. ReadAt may run in parallel with every other method;
// it does not retain p.
func (m *Manager) ReadAt(p []byte, off int64) (int, error) {
	if m.closed.Load() {
		return 0, m.errorf("read", off, len(p), ErrClosed, "")
	}
	if off < 0 {
		return 0, m.errorf("read", off, len(p), ErrOutOfRange, "negative offset")
	}
	if int64(len(p)) > maxOffset-off {
		return 0, m.errorf("read", off, len(p), ErrOutOfRange, "end overflows int64")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off < m.start.Load() {
		return 0, m.errorf("read", off, len(p), ErrOutOfRange, fmt.Sprintf("below start %d", m.start.Load()))
	}
	size := m.size.Load()
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > size-off {
		want = int(size - off)
	}
	if want == len(p) && int64(want) <= m.chunkSize-off&m.mask {
		// The common case, a read inside one chunk: one guarded frame,
		// no loop.
		if m.hotRead1(p, off) {
			return len(p), nil
		}
	}
	n, err := m.read(p[:want], off)
	if err != nil {
		return n, err
	}
	if want < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// read fills p from offset off, mapping chunks as needed. The caller has
// checked that [off, off+len(p)) lies within [Start, Size).
func (m *Manager) read(p []byte, off int64) (int, error) {
	n := 0
	for {
		k, f := m.hotRead(p[n:], off+int64(n))
		n += k
		if f.hit {
			if err := m.onFault(f, "read", off+int64(n)); err != nil {
				return n, err
			}
			continue
		}
		if n == len(p) {
			return n, nil
		}
		k, err := m.miss(p[n:], off+int64(n), false)
		n += k
		if err != nil {
			return n, err
		}
	}
}

// hotRead copies from mapped chunks into p, starting at offset off, until p
// is full or it reaches a chunk that is not mapped. It takes no lock and
// executes no locked instruction once a chunk is marked used: this is the
// path that must cost little more than a copy.
func (m *Manager) hotRead(p []byte, off int64) (n int, f fault) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	t := m.table.Load()
	for n < len(p) {
		o := off + int64(n)
		s := t.slot(o >> m.shift)
		if s == nil {
			return n, f
		}
		mp := s.Load()
		if mp == nil {
			return n, f
		}
		if !mp.used.Load() {
			mp.used.Store(true)
		}
		f.mp = mp
		n += copy(p[n:], mp.data[o&m.mask:])
	}
	return n, f
}

// hotRead1 is hotRead for a read that lies inside one chunk: it fills p and
// reports true if the chunk is mapped, and reports false (with p in any
// state) if it is not or the access faulted, leaving the caller to take the
// general path.
func (m *Manager) hotRead1(p []byte, off int64) (ok bool) {
	// A fault unwinds before ok is set, so it reads false; the general
	// path then redoes the access and classifies the fault.
	var f fault
	defer catchFault(debug.SetPanicOnFault(true), &f)
	s := m.table.Load().slot(off >> m.shift)
	if s == nil {
		return false
	}
	mp := s.Load()
	if mp == nil {
		return false
	}
	if !mp.used.Load() {
		mp.used.Store(true)
	}
	o := off & m.mask
	if len(p) == 8 {
		*(*[8]byte)(p) = [8]byte(mp.data[o:])
	} else {
		copy(p, mp.data[o:])
	}
	return true
}

// hotWrite1 is hotRead1's twin for stores. A fault may leave part of p
// stored; the general path then stores all of it again. So does a store
// that finds its chunk's dirty flag clear, which happens once per chunk per
// Sync: the general path's hotWrite reports the chunk for markDirty, which
// takes the lock that hot frames never take. hotWrite1 has no other result
// and no call for that case because on cold data its speed is set by its
// stores: every store, stack spills included, waits in the store buffer
// behind the miss of the one to the mapping, and two more words of result
// made cold random writes half again as slow.
func (m *Manager) hotWrite1(p []byte, off int64) (ok bool) {
	// A fault unwinds before ok is set, so it reads false; the general
	// path then redoes the access and classifies the fault.
	var f fault
	defer catchFault(debug.SetPanicOnFault(true), &f)
	s := m.table.Load().slot(off >> m.shift)
	if s == nil {
		return false
	}
	mp := s.Load()
	if mp == nil {
		return false
	}
	o := off & m.mask
	if len(p) == 8 {
		*(*[8]byte)(mp.data[o:]) = [8]byte(p)
	} else {
		copy(mp.data[o:], p)
	}
	if !mp.used.Load() {
		mp.used.Store(true)
	}
	return mp.dirty.Load()
}

// hotWrite is hotRead's twin for stores. A chunk's dirty flag is checked
// after the store, not before, so that a Sync clearing it concurrently
// either sees the stored bytes (see processBarrier) or has cleared it first.
// When hotWrite finds the flag clear it stops after that chunk and returns
// its mapping as clean, for the caller to pass to markDirty.
func (m *Manager) hotWrite(p []byte, off int64) (n int, f fault, clean *mapping) {
	defer catchFault(debug.SetPanicOnFault(true), &f)
	t := m.table.Load()
	for n < len(p) {
		o := off + int64(n)
		s := t.slot(o >> m.shift)
		if s == nil {
			return n, f, nil
		}
		mp := s.Load()
		if mp == nil {
			return n, f, nil
		}
		f.mp = mp
		n += copy(mp.data[o&m.mask:], p[n:])
		if !mp.used.Load() {
			mp.used.Store(true)
		}
		if !mp.dirty.Load() {
			return n, f, mp // for the caller to mark; it calls again for the rest
		}
	}
	return n, f, nil
}

// WriteAt implements [io.WriterAt]. It writes p at offset off, creating
// chunk files as needed and extending Size to off+len(p) if that is past it;
// a gap between the old Size and off reads as zeros. A zero-length write
// changes nothing. Writing below Start returns ErrOutOfRange.
//
// WriteAt may run in parallel with every other method; concurrent writes to
// overlapping bytes have the semantics of plain memory stores. It does not
// retain p. If creating a chunk fails (for example, the disk is full) it
// returns the error and leaves the dataset as it was.
func (m *Manager) WriteAt(p []byte, off int64) (int, error) {
	// The common write, small and inside one mapped chunk and inside
	// [Start, Size), goes straight to hotWrite1. On cold data a write's
	// speed is set by its stores, and each call level adds some (a return
	// address, a frame pointer, spills): see hotWrite1.
	n := int64(len(p))
	if n > 0 && n < bulkWrite && !m.opts.ReadOnly && !m.closed.Load() && m.failed.Load() == nil &&
		off >= m.start.Load() && n <= m.size.Load()-off && n <= m.chunkSize-off&m.mask && m.hotWrite1(p, off) {
		// Start is never negative, so neither is off here, and size-off
		// cannot overflow.
		return len(p), nil
	}
	return m.writeAt(p, off)
}

// writeAt is WriteAt for every write that its fast path did not finish.
func (m *Manager) writeAt(p []byte, off int64) (int, error) {
	if err := m.checkWrite("write", off, len(p)); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off < m.start.Load() {
		return 0, m.errorf("write", off, len(p), ErrOutOfRange, fmt.Sprintf("below start %d", m.start.Load()))
	}
	end := off + int64(len(p))
	if end <= m.size.Load() {
		return m.write(p, off)
	}
	m.resize.RLock()
	defer m.resize.RUnlock()
	if err := m.reserve(off, end); err != nil {
		return 0, err
	}
	n, err := m.write(p, off)
	m.publish(off, end, false)
	return n, err
}

// checkWrite checks what every write must: an open, writable Manager with
// no failed sync, and a range that neither starts below zero nor overflows.
func (m *Manager) checkWrite(op string, off int64, n int) error {
	switch {
	case m.closed.Load():
		return m.errorf(op, off, n, ErrClosed, "")
	case m.opts.ReadOnly:
		return m.errorf(op, off, n, ErrReadOnly, "")
	case off < 0:
		return m.errorf(op, off, n, ErrOutOfRange, "negative offset")
	case int64(n) > maxOffset-off:
		return m.errorf(op, off, n, ErrOutOfRange, "end overflows int64")
	}
	if e := m.failed.Load(); e != nil {
		return fmt.Errorf("%s %d bytes at offset %d in %s: an earlier sync failed: %w", op, n, off, m.dir, *e)
	}
	return nil
}

// bulkWrite is the size from which a write goes to the chunk files with
// pwrite instead of through the mappings. A store to a page of a shared
// file mapping that the process has not yet touched takes a page fault
// (about 1.6 µs per 4 KiB page on the reference machine), which halves the
// throughput of filling fresh chunks; pwrite fills the same page cache,
// which the mappings share, without faults, and one system call is cheap
// next to copying this much.
const bulkWrite = 64 << 10

// write stores p at offset off, mapping chunks as needed. The chunks exist.
func (m *Manager) write(p []byte, off int64) (int, error) {
	if len(p) >= bulkWrite {
		for n := 0; n < len(p); {
			k, err := m.fileIO(p[n:], off+int64(n), true)
			n += k
			if err != nil {
				return n, err
			}
		}
		return len(p), nil
	}
	if int64(len(p)) <= m.chunkSize-off&m.mask && m.hotWrite1(p, off) {
		return len(p), nil
	}
	n := 0
	for {
		k, f, clean := m.hotWrite(p[n:], off+int64(n))
		n += k
		if clean != nil {
			m.markDirty(clean)
			continue
		}
		if f.hit {
			if err := m.onFault(f, "write", off+int64(n)); err != nil {
				return n, err
			}
			continue
		}
		if n == len(p) {
			return n, nil
		}
		k, err := m.miss(p[n:], off+int64(n), true)
		n += k
		if err != nil {
			return n, err
		}
	}
}

// Append writes p at the end of the dataset and returns the offset it was
// written at. Concurrent appends never overlap: each reserves its own range
// atomically, and Size covers an append only when every earlier one has
// finished, so a reader never sees a hole. A zero-length Append changes
// nothing and returns the current end. If creating a chunk fails it returns
// the error and leaves the dataset as it was.
func (m *Manager) Append(p []byte) (int64, error) {
	if err := m.checkWrite("append", 0, 0); err != nil {
		return 0, err
	}
	m.resize.RLock()
	defer m.resize.RUnlock()
	m.mu.Lock()
	off := m.mu.reserved
	if len(p) == 0 {
		m.mu.Unlock()
		return off, nil
	}
	end := off + int64(len(p))
	if int64(len(p)) > maxOffset-off {
		m.mu.Unlock()
		return 0, m.errorf("append", off, len(p), ErrOutOfRange, "end overflows int64")
	}
	err := m.reserveLocked(off, end)
	m.mu.Unlock()
	if err != nil {
		return 0, err
	}
	_, err = m.write(p, off)
	m.publish(off, end, true)
	return off, err
}

// reserve prepares [off, end) for a write that extends the dataset: it
// creates the chunks, zeroes stale bytes in the gap before off, and hands
// the range to the caller, who then calls publish.
func (m *Manager) reserve(off, end int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reserveLocked(off, end)
}

func (m *Manager) reserveLocked(off, end int64) error {
	if m.closed.Load() {
		return m.errorf("write", off, int(end-off), ErrClosed, "")
	}
	if err := m.growLocked(end); err != nil {
		return err
	}
	if off > m.mu.reserved {
		if err := m.zeroLocked(m.mu.reserved, min(off, m.mu.hwm)); err != nil {
			return err
		}
	}
	m.mu.reserved = max(m.mu.reserved, end)
	m.mu.hwm = max(m.mu.hwm, end)
	return nil
}

// publish extends Size over a finished write of [off, end). An append is
// covered only once Size has reached its offset; one that finishes early
// waits in pending.
func (m *Manager) publish(off, end int64, isAppend bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	size := m.size.Load()
	if isAppend && off > size {
		m.mu.pending[off] = end
		return
	}
	size = max(size, end)
	for changed := true; changed; {
		changed = false
		for o, e := range m.mu.pending {
			if o <= size {
				size = max(size, e)
				delete(m.mu.pending, o)
				changed = true
			}
		}
	}
	m.size.Store(size)
}

// growLocked creates chunk files until the capacity reaches end. If a
// creation fails, the chunks this call created are removed again.
func (m *Manager) growLocked(end int64) error {
	last := m.mu.first + m.mu.nchunks // index of the next chunk to create
	need := (end + m.mask) >> m.shift
	if end > maxOffset-m.mask {
		need = (maxOffset >> m.shift) + 1
	}
	if need <= last {
		return nil
	}
	// Refuse at once what cannot fit, rather than create files until the
	// disk is full and then remove them: a write at offset 1<<62 is valid
	// input, not a reason to fill a file system.
	if avail, err := chunk.FreeSpace(m.dir); err == nil && need-last > avail/m.chunkSize {
		return fmt.Errorf("grow %s to %d bytes: %w: %d chunks of %d bytes needed, %d bytes free",
			m.dir, end, ErrNoSpace, need-last, m.chunkSize, avail)
	}
	for idx := last; idx < need; idx++ {
		var f *chunk.File
		var err error
		if m.opts.Scratch {
			if f, err = chunk.CreateScratch(m.dir, idx, m.chunkSize, m.opts.FileMode); err == nil {
				m.mu.scratch[idx] = f
			}
		} else if f, err = chunk.Create(m.dir, idx, m.chunkSize, m.opts.FileMode); err == nil {
			err = f.Close()
		}
		if err != nil {
			for j := idx - 1; j >= last; j-- { // highest first: no gap on a crash
				err = errors.Join(err, m.removeChunk(j))
			}
			return fmt.Errorf("grow %s to %d bytes: %w", m.dir, end, err)
		}
	}
	m.mu.nchunks = need - m.mu.first
	if t := m.table.Load(); need-t.first > int64(len(t.slots)) {
		nt := newTable(t.first, max(2*int64(len(t.slots)), need-t.first))
		for i := range t.slots {
			nt.slots[i].Store(t.slots[i].Load())
		}
		m.table.Store(nt)
	}
	return nil
}

// zeroLocked zeroes the bytes [from, to) of existing chunks with the file
// system (no mapping needed), and remembers the chunks for the next Sync.
func (m *Manager) zeroLocked(from, to int64) error {
	for from < to {
		idx := from >> m.shift
		n := min(to-from, (idx+1)<<m.shift-from)
		f, err := m.openChunk(idx, chunk.ReadWrite)
		if err != nil {
			return err
		}
		err = errors.Join(f.Zero(from&m.mask, n), f.Close())
		if err != nil {
			return fmt.Errorf("zero %d bytes at offset %d: %w", n, from, err)
		}
		m.mu.dirty[idx] = struct{}{}
		from += n
	}
	return nil
}

// Grow makes sure chunks exist for at least n bytes past Size, creating them
// now, so later writes up to there neither create files nor fail for lack
// of space. It does not change Size. If creating a chunk fails it returns
// the error and leaves the dataset as it was.
func (m *Manager) Grow(n int64) error {
	if err := m.checkWrite("grow", m.size.Load(), 0); err != nil {
		return err
	}
	size := m.size.Load()
	if n < 0 || n > maxOffset-size {
		return m.errorf("grow", size, 0, ErrOutOfRange, fmt.Sprintf("cannot grow by %d bytes", n))
	}
	m.resize.RLock()
	defer m.resize.RUnlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return m.errorf("grow", size, 0, ErrClosed, "")
	}
	return m.growLocked(m.size.Load() + n)
}

// Truncate sets Size. Chunk files wholly past the new Size are deleted, and
// bytes past it read as zeros if the dataset is extended again. Truncating
// below Start returns ErrOutOfRange. A Truncate that deletes chunks first
// makes everything written before it durable, as Sync does, then records the
// new Size in the manifest, and only then deletes files, so a crash at any
// point leaves a consistent dataset. A chunk pinned at the time stays mapped
// until its last pin is released.
func (m *Manager) Truncate(size int64) error {
	if err := m.checkWrite("truncate", size, 0); err != nil {
		return err
	}
	m.resize.Lock()
	defer m.resize.Unlock()
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.closed.Load() {
		return m.errorf("truncate", size, 0, ErrClosed, "")
	}
	if start := m.start.Load(); size < start {
		return m.errorf("truncate", size, 0, ErrOutOfRange, fmt.Sprintf("below start %d", start))
	}
	if old := m.size.Load(); size >= old {
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := m.reserveLocked(size, size); err != nil {
			return err
		}
		m.size.Store(size)
		return nil
	}
	m.mu.Lock()
	deletes := (size+m.mask)>>m.shift-m.mu.first < m.mu.nchunks
	m.mu.Unlock()
	if deletes {
		if _, err := m.flushLocked(); err != nil {
			return fmt.Errorf("truncate %s to %d: %w", m.dir, size, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.size.Store(size)
	m.mu.reserved = size
	keep := (size+m.mask)>>m.shift - m.mu.first
	if keep >= m.mu.nchunks {
		return nil
	}
	if err := m.recordLocked(manifest{chunkSize: m.chunkSize, first: m.mu.first, size: size}); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", m.dir, size, err)
	}
	from := m.mu.first + keep
	to := m.mu.first + m.mu.nchunks
	m.mu.nchunks = keep
	m.mu.hwm = min(m.mu.hwm, (m.mu.first+keep)<<m.shift)
	return m.deleteChunksLocked(from, to)
}

// DropBefore deletes every chunk that lies wholly below offset off, for
// retention in log and segment stores, and moves Start up to the first
// remaining chunk (off rounded down to a multiple of ChunkSize). Offsets of
// the remaining bytes do not change. Dropping past Size returns
// ErrOutOfRange; dropping at or below Start does nothing. Like Truncate, it
// makes everything written before it durable and records the new Start in
// the manifest before it deletes any file.
func (m *Manager) DropBefore(off int64) error {
	if err := m.checkWrite("drop", off, 0); err != nil {
		return err
	}
	m.resize.Lock()
	defer m.resize.Unlock()
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.closed.Load() {
		return m.errorf("drop", off, 0, ErrClosed, "")
	}
	if size := m.size.Load(); off > size {
		return m.errorf("drop", off, 0, ErrOutOfRange, fmt.Sprintf("past size %d", size))
	}
	newFirst := off >> m.shift
	if newFirst<<m.shift <= m.start.Load() {
		return nil
	}
	size, err := m.flushLocked()
	if err != nil {
		return fmt.Errorf("drop %s before %d: %w", m.dir, off, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.recordLocked(manifest{chunkSize: m.chunkSize, first: newFirst, size: size}); err != nil {
		return fmt.Errorf("drop %s before %d: %w", m.dir, off, err)
	}
	m.start.Store(newFirst << m.shift)
	oldFirst := m.mu.first
	m.mu.nchunks -= newFirst - oldFirst
	m.mu.first = newFirst
	err = m.deleteChunksLocked(oldFirst, newFirst)
	m.rebaseLocked()
	return err
}

// rebaseLocked replaces the table with one that starts at the first chunk,
// keeping the live mappings.
func (m *Manager) rebaseLocked() {
	t := m.table.Load()
	nt := newTable(m.mu.first, m.mu.nchunks)
	for idx := m.mu.first; idx < m.mu.first+m.mu.nchunks; idx++ {
		if s := t.slot(idx); s != nil {
			nt.slot(idx).Store(s.Load())
		}
	}
	m.table.Store(nt)
}

// deleteChunksLocked unmaps (or dooms, if pinned) and removes chunk files
// [from, to), then syncs the directory. Files go from the highest index
// down: a crash part way leaves the chunks that remain without a gap (those
// below Start are stale and Open removes them; those past Size are spare).
func (m *Manager) deleteChunksLocked(from, to int64) error {
	t := m.table.Load()
	pinned := make(map[int64]bool)
	for idx := to - 1; idx >= from; idx-- {
		delete(m.mu.dirty, idx)
		m.dropFdLocked(idx)
		if s := t.slot(idx); s != nil {
			if mp := s.Load(); mp != nil {
				mp.dirty.Store(false) // the file is going; nothing to sync
				m.dropLocked(mp)
				pinned[idx] = mp.pins.Load() > 0
			}
		}
		delete(m.mu.freq, idx) // after dropLocked, which hands it back
	}
	if unmapBeforeRemove {
		m.reclaimLocked(true)
	}
	var err error
	for idx := to - 1; idx >= from; idx-- {
		if unmapBeforeRemove && pinned[idx] {
			m.mu.removeLater[idx] = struct{}{}
			continue
		}
		err = errors.Join(err, m.removeChunk(idx))
	}
	if err == nil && !m.opts.Scratch {
		err = chunk.SyncDir(m.dir)
	}
	if err != nil {
		return fmt.Errorf("delete chunks [%d, %d) of %s: %w", from, to, m.dir, err)
	}
	return nil
}

// removeLaterLocked removes the files whose removal waited for their
// chunk's last pin (see unmapBeforeRemove). Chunks created again under the
// same index since are kept.
func (m *Manager) removeLaterLocked() {
	for idx := range m.mu.removeLater {
		if idx >= m.mu.first && idx < m.mu.first+m.mu.nchunks {
			delete(m.mu.removeLater, idx)
			continue
		}
		if m.removeChunk(idx) == nil {
			delete(m.mu.removeLater, idx)
		}
	}
}

// removeChunk deletes the file of chunk idx.
func (m *Manager) removeChunk(idx int64) error {
	if f := m.mu.scratch[idx]; f != nil {
		delete(m.mu.scratch, idx)
		return f.Close() // the system deletes the unnamed file
	}
	return removeFile(filepath.Join(m.dir, chunk.Name(idx)))
}

// lookup returns the live mapping of the chunk holding offset off, mapping
// it if need be.
func (m *Manager) lookup(off int64, op string) (*mapping, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lookupLocked(off, op)
}

// lookupLocked is lookup for a caller holding mu.
func (m *Manager) lookupLocked(off int64, op string) (*mapping, error) {
	idx := off >> m.shift
	if m.closed.Load() {
		return nil, m.errorf(op, off, 0, ErrClosed, "")
	}
	if idx < m.mu.first || idx >= m.mu.first+m.mu.nchunks {
		return nil, m.errorf(op, off, 0, ErrOutOfRange, fmt.Sprintf("chunk %d does not exist", idx))
	}
	s := m.table.Load().slot(idx)
	if mp := s.Load(); mp != nil {
		m.hits.Add(1)
		return mp, nil
	}
	m.misses.Add(1)
	m.evictLocked(1)
	mode := chunk.ReadWrite
	if m.opts.ReadOnly {
		mode = chunk.ReadOnly
	}
	f, err := m.openChunk(idx, mode)
	if err == nil {
		err = f.Map(mode)
		if err != nil {
			err = errors.Join(err, f.Close())
		}
	}
	if err != nil {
		return nil, chunkError(op, off, err)
	}
	m.maps.Add(1)
	mp := &mapping{data: f.Bytes(), file: f, index: idx, freq: m.mu.freq[idx]}
	delete(m.mu.freq, idx)
	m.mu.lru.Add(idx, mp)
	mp.live = len(m.mu.live)
	m.mu.live = append(m.mu.live, mp)
	s.Store(mp)
	return mp, nil
}

// evictLocked unmaps least recently used, unpinned chunks until n more can
// be mapped within MaxMapped, or until every mapped chunk is pinned.
func (m *Manager) evictLocked(n int) {
	if len(m.mu.live)+n <= m.opts.MaxMapped {
		return
	}
	m.foldUsedLocked()
	for tries := m.mu.lru.Len(); tries > 0 && len(m.mu.live)+n > m.opts.MaxMapped; tries-- {
		idx, mp, _ := m.mu.lru.GetOldest()
		if !m.evictOneLocked(mp) {
			m.mu.lru.Get(idx)
		}
	}
}

// evictOneLocked unmaps the live mapping mp unless it is pinned, and
// reports whether it did.
func (m *Manager) evictOneLocked(mp *mapping) bool {
	// A pin takes no lock: it increments pins, then checks retiring.
	// Setting retiring before reading pins means one of the two sees the
	// other.
	mp.retiring.Store(true)
	if mp.pins.Load() > 0 {
		mp.retiring.Store(false)
		return false
	}
	m.mu.lru.Remove(mp.index)
	m.unpublishLocked(mp)
	m.retireLocked(mp)
	m.evictions.Add(1)
	return true
}

// dropLocked takes a live mapping out of use for good, because its chunk is
// deleted or the Manager closes: it is retired now, or at its last unpin if
// it is pinned.
func (m *Manager) dropLocked(mp *mapping) {
	m.mu.lru.Remove(mp.index)
	m.unpublishLocked(mp)
	mp.doomed.Store(true)
	mp.retiring.Store(true)
	if mp.pins.Load() > 0 {
		m.mu.doomed = append(m.mu.doomed, mp)
	} else {
		m.retireLocked(mp)
	}
}

// unpublishLocked removes a live mapping from the table.
func (m *Manager) unpublishLocked(mp *mapping) {
	if s := m.table.Load().slot(mp.index); s != nil {
		s.CompareAndSwap(mp, nil)
	}
	if mp.freq > 0 {
		m.mu.freq[mp.index] = mp.freq
	}
	last := m.mu.live[len(m.mu.live)-1]
	m.mu.live[mp.live], last.live = last, mp.live
	m.mu.live[len(m.mu.live)-1] = nil
	m.mu.live = m.mu.live[:len(m.mu.live)-1]
}

// retireLocked retires an unpublished, unpinned mapping and queues it for
// unmapping.
func (m *Manager) retireLocked(mp *mapping) {
	if mp.gone {
		return
	}
	mp.gone = true
	if mp.dirty.Load() {
		m.mu.dirty[mp.index] = struct{}{}
	}
	m.unmaps.Add(1)
	m.mu.graveyard = append(m.mu.graveyard, mp)
	// The caller unpublished mp before this check, so a Batch that opens
	// after it cannot reach mp; one already open may hold its bytes.
	if m.batches.Load() > 0 {
		mp.waiting = true
		m.unretired.Add(1)
		return
	}
	// If Retire fails the mapping stays accessible, which is still safe:
	// it is unmapped only once no hot frame can be using it.
	mp.file.Retire()
	m.reclaimLocked(false)
}

// retireWaitingLocked retires the mappings that waited for open batches.
func (m *Manager) retireWaitingLocked() {
	for _, mp := range m.mu.graveyard {
		if mp.waiting {
			mp.waiting = false
			m.unretired.Add(-1)
			mp.file.Retire()
		}
	}
}

// reclaimLocked unmaps the retired mappings once no goroutine can still be
// using their addresses. With wait it waits for that, releasing mu while it
// sleeps; otherwise it gives up until the next retirement.
func (m *Manager) reclaimLocked(wait bool) {
	if len(m.mu.graveyard) == 0 || (!wait && len(m.mu.graveyard) < graveyardLimit) {
		return
	}
	for m.batches.Load() > 0 || m.anyHotFrameLocked() {
		if !wait {
			return
		}
		// A hot frame lasts as long as one copy; an open Batch may need mu
		// to map a chunk before it can end, so wait without holding it.
		m.mu.Unlock()
		sleepBriefly()
		m.mu.Lock()
	}
	m.retireWaitingLocked()
	for _, mp := range m.mu.graveyard {
		// No hot frame or batch can store through mp any more, so its
		// dirty flag is final: hand it to the next Sync by index.
		if mp.dirty.Load() {
			m.mu.dirty[mp.index] = struct{}{}
		}
		mp.file.Close()
	}
	clear(m.mu.graveyard)
	m.mu.graveyard = m.mu.graveyard[:0]
}

// onFault decides what fault f during op at offset off means: nil if the
// mapping was retired under the access (retry it), ErrFault if a mapping in
// use faulted. Faults are classified by the mapping the access used, not by
// address alone: once the faulting frame has returned, the retired range may
// already be unmapped and its addresses reused by a new mapping.
func (m *Manager) onFault(f fault, op string, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return m.errorf(op, off, 0, ErrClosed, "")
	}
	mp := f.mp
	if mp == nil { // a Batch: its mappings cannot be retired while it is open
		for _, c := range slices.Concat(m.mu.live, m.mu.doomed, m.mu.graveyard) {
			if contains(c.data, f.addr) {
				mp = c
				break
			}
		}
	} else if mp.gone {
		return nil
	}
	if mp == nil || !contains(mp.data, f.addr) {
		return fmt.Errorf("%s at offset %d in %s: %w at address %#x", op, off, m.dir, ErrFault, f.addr)
	}
	at := mp.index<<m.shift + int64(f.addr-dataAddr(mp.data))
	return fmt.Errorf("%s at offset %d: %w: chunk file %s at offset %d (truncated or removed by another process, or an I/O error)",
		op, at, ErrFault, mp.file.Path(), at&m.mask)
}

// Sync makes durable everything written before it was called: chunks stored
// to since the last Sync (those unmapped since included) are flushed and
// fsync'd, then the manifest records Size and Start. Its cost grows with the
// number of such chunks, not with the number mapped or the size of the
// dataset: writers queue a chunk the first time they dirty it after a Sync,
// and Sync visits only the queue. On a ReadOnly Manager it does nothing and
// returns nil.
//
// If an fsync (or, except on Linux, an msync) fails, Sync returns the
// error, and so does every later Sync and write: the kernel may have dropped
// the dirty pages, so the data written since the last successful Sync is in
// doubt.
func (m *Manager) Sync() error {
	if m.closed.Load() {
		return m.errorf("sync", 0, 0, ErrClosed, "")
	}
	if m.opts.ReadOnly {
		return nil
	}
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	return m.syncLocked()
}

// syncLocked does the work of Sync; the caller holds syncMu.
func (m *Manager) syncLocked() error {
	if m.opts.Scratch {
		return nil
	}
	size, err := m.flushLocked()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recordLocked(manifest{chunkSize: m.chunkSize, first: m.mu.first, size: max(size, m.mu.first<<m.shift)})
}

// flushLocked makes durable every store made before it was called and
// returns the Size of that moment; the caller holds syncMu but not mu.
func (m *Manager) flushLocked() (size int64, err error) {
	if m.opts.Scratch {
		return m.size.Load(), nil
	}
	if e := m.failed.Load(); e != nil {
		return 0, fmt.Errorf("sync %s: an earlier sync failed: %w", m.dir, *e)
	}
	// Size is read before anything is flushed, so a manifest recording it
	// never covers bytes whose extension was not flushed.
	size = m.size.Load()

	m.mu.Lock()
	var live, cleared []*mapping
	queued := m.mu.dirtyq
	m.mu.dirtyq = nil
	for _, mp := range queued {
		mp.queued = false
		if !m.isLiveLocked(mp) {
			// Evicted or deleted since it was queued: retiring it moved
			// its flag to mu.dirty.
			continue
		}
		dirty := mp.dirty.Swap(false)
		if dirty {
			cleared = append(cleared, mp)
		}
		if mp.wpins.Load() > 0 {
			// Bytes pinned writable take stores that set no flag, so
			// such a chunk is flushed by every Sync until its release.
			m.enqueueLocked(mp)
		} else if !dirty {
			continue
		}
		mp.pins.Add(1) // keeps it mapped while it is flushed
		live = append(live, mp)
	}
	for _, mp := range m.mu.graveyard {
		if mp.dirty.Load() && mp.dirty.Swap(false) {
			m.mu.dirty[mp.index] = struct{}{}
			cleared = append(cleared, mp)
		}
	}
	var evicted []int64
	for idx := range m.mu.dirty {
		evicted = append(evicted, idx)
	}
	clear(m.mu.dirty)
	m.mu.Unlock()
	// A Batch sets a chunk's dirty flag before it stores, not after. If
	// one is open, a store may follow our clearing of the flag: leave the
	// flags set so the next Sync flushes those chunks again. The batch is
	// counted before it reads a flag, and the flags were cleared before
	// this load, so one side always sees the other.
	if m.wbatches.Load() > 0 {
		m.mu.Lock()
		for _, mp := range cleared {
			m.markDirtyLocked(mp)
		}
		m.mu.Unlock()
	}

	processBarrier()
	for _, mp := range live {
		if e := mp.file.Sync(); e != nil {
			m.markDirty(mp)
			err = errors.Join(err, e)
		}
		m.unpin(mp)
	}
	for _, idx := range evicted {
		if e := m.fsyncChunk(idx); e != nil {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		return 0, m.fail(err)
	}
	return size, nil
}

// markDirty records that mp's chunk was stored to: it sets mp's dirty flag
// and queues mp for the next Sync. Writers call it after their stores, and
// only when they find the flag clear, so it runs about once per chunk per
// Sync. It takes mu so that no writer can see the flag set before mp is
// queued: one that did would skip markDirty and return, and a Sync starting
// in between would miss a write that finished before it. The caller must
// not be in a hot* frame or hold mu.
func (m *Manager) markDirty(mp *mapping) {
	m.mu.Lock()
	m.markDirtyLocked(mp)
	m.mu.Unlock()
}

// markDirtyLocked is markDirty for a caller holding mu.
func (m *Manager) markDirtyLocked(mp *mapping) {
	switch {
	case mp.doomed.Load():
		// Its chunk was deleted: there is nothing to flush.
	case mp.gone:
		// Evicted since the store, which reached the page cache: the
		// chunk is fsync'd through a new descriptor. The flag is set
		// too: while the mapping waits in the graveyard an open Batch
		// may still store through it, and Sync's graveyard scan then
		// keeps the chunk pending until the batch ends (see flushLocked).
		mp.dirty.Store(true)
		m.mu.dirty[mp.index] = struct{}{}
	default:
		mp.dirty.Store(true)
		m.enqueueLocked(mp)
	}
}

// enqueueLocked adds mp to dirtyq unless it is there already, dropping the
// queue's mappings that are no longer live once they are many, so that a
// dataset written and evicted but never synced (Scratch, say) does not grow
// the queue without bound.
func (m *Manager) enqueueLocked(mp *mapping) {
	if mp.queued {
		return
	}
	if len(m.mu.dirtyq) >= 2*len(m.mu.live)+64 {
		q := m.mu.dirtyq[:0]
		for _, c := range m.mu.dirtyq {
			if m.isLiveLocked(c) {
				q = append(q, c)
			} else {
				c.queued = false
			}
		}
		clear(m.mu.dirtyq[len(q):])
		m.mu.dirtyq = q
	}
	mp.queued = true
	m.mu.dirtyq = append(m.mu.dirtyq, mp)
}

// isLiveLocked reports whether mp is a live mapping: published, in the LRU,
// neither evicted nor deleted.
func (m *Manager) isLiveLocked(mp *mapping) bool {
	return mp.live < len(m.mu.live) && m.mu.live[mp.live] == mp
}

// recordLocked replaces the manifest with mf unless it already says that;
// the caller holds mu.
func (m *Manager) recordLocked(mf manifest) error {
	if mf == m.mu.durable || m.opts.Scratch {
		return nil
	}
	if err := writeManifest(m.dir, mf, m.opts.FileMode); err != nil {
		return m.fail(err)
	}
	m.mu.durable = mf
	return nil
}

// fail records err as the sticky sync failure and returns it.
func (m *Manager) fail(err error) error {
	err = fmt.Errorf("sync %s: %w", m.dir, err)
	m.failed.CompareAndSwap(nil, &err)
	return err
}

// fsyncChunk fsyncs the file of chunk idx, which has no live mapping. A
// chunk deleted since needs nothing.
func (m *Manager) fsyncChunk(idx int64) error {
	f, err := os.OpenFile(filepath.Join(m.dir, chunk.Name(idx)), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// Close syncs the dataset (unless ReadOnly), unmaps every chunk, and
// releases the directory lock. Chunks pinned at the time stay mapped until
// their last pin is released. Every later call returns ErrClosed, Close
// included.
func (m *Manager) Close() error {
	m.resize.Lock()
	defer m.resize.Unlock()
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.closed.Load() {
		return m.errorf("close", 0, 0, ErrClosed, "")
	}
	var err error
	if !m.opts.ReadOnly {
		err = m.syncLocked()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed.Store(true)
	for len(m.mu.live) > 0 {
		m.dropLocked(m.mu.live[len(m.mu.live)-1])
	}
	for idx := range m.mu.fds {
		m.dropFdLocked(idx)
	}
	for idx, f := range m.mu.scratch {
		err = errors.Join(err, f.Close())
		delete(m.mu.scratch, idx)
	}
	m.reclaimLocked(true)
	err = errors.Join(err, m.mu.lock.unlock())
	m.mu.lock = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", m.dir, err)
	}
	return nil
}

// Stats returns a snapshot of the Manager's counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	pinned := 0
	for _, mp := range m.mu.live {
		if mp.pins.Load() > 0 {
			pinned++
		}
	}
	for _, mp := range m.mu.doomed {
		if mp.pins.Load() > 0 {
			pinned++
		}
	}
	return Stats{
		Chunks:    int(m.mu.nchunks),
		Mapped:    len(m.mu.live) + len(m.mu.doomed) + int(m.unretired.Load()),
		Pinned:    pinned,
		Hits:      m.hits.Load(),
		Misses:    m.misses.Load(),
		Maps:      m.maps.Load(),
		Unmaps:    m.unmaps.Load(),
		Evictions: m.evictions.Load(),
	}
}

// errorf builds the error of operation op on n bytes at offset off,
// wrapping sentinel.
func (m *Manager) errorf(op string, off int64, n int, sentinel error, detail string) error {
	if detail != "" {
		detail = ": " + detail
	}
	return fmt.Errorf("%s %d bytes at offset %d in %s: %w%s", op, n, off, m.dir, sentinel, detail)
}
