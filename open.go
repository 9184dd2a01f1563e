package chunkmap

// This file holds Open: checking a dataset directory before anything is
// changed, and cleaning up what a crash left behind.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

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

	return newManager(dir, o, mf, nchunks)
}

// newManager returns the Manager of a checked dataset described by mf, with
// nchunks chunk files from mf.first, and reserves its arena.
func newManager(dir string, o Options, mf manifest, nchunks int64) (*Manager, error) {
	shift := log2(mf.chunkSize)
	m := &Manager{
		dir:       dir,
		opts:      o,
		chunkSize: mf.chunkSize,
		shift:     shift,
		mask:      mf.chunkSize - 1,
	}
	m.opts.ChunkSize = mf.chunkSize
	if err := m.reserveArena(nchunks); err != nil {
		return nil, err
	}
	m.size.Store(mf.size)
	m.start.Store(mf.first << shift)
	// NewLRU fails only for a size below 1. The Manager bounds the mapped
	// count itself (held chunks may exceed MaxMapped), so the LRU's own
	// bound must never evict.
	m.mu.lru, _ = simplelru.NewLRU[int64, *mapping](math.MaxInt32, nil)
	m.mu.scratch = make(map[int64]*chunk.File)
	m.mu.removeLater = make(map[int64]struct{})
	m.mu.dirty = make(map[int64]struct{})
	m.mu.pending = make(map[int64]int64)
	m.mu.freq = make(map[int64]uint16)
	m.mu.fds = make(map[int64]*fdEntry)
	m.mu.fdLimit = fileBudget()
	m.mu.idle = sync.NewCond(&m.mu.Mutex)
	m.mu.first = mf.first
	m.mu.nchunks = nchunks
	m.mu.reserved = mf.size
	// Unsynced writes before a crash may have left data past Size anywhere
	// in the existing chunks.
	m.mu.hwm = (mf.first + nchunks) << shift
	m.mu.durable = mf
	return m, nil
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
	m, err := newManager(dir, o, mf, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return m, nil
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

// chunkPath returns the path of chunk idx's file, for messages.
func (m *Manager) chunkPath(idx int64) string {
	if m.opts.Scratch {
		return filepath.Join(m.dir, fmt.Sprintf("scratch chunk %d", idx))
	}
	return filepath.Join(m.dir, chunk.Name(idx))
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
