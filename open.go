package chunkmap

// This file holds Open: checking a dataset directory before anything is
// changed, and cleaning up what a crash left behind.

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"unicode/utf8"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// Open opens the dataset in directory dir, creating the directory and an
// empty dataset if they do not exist (unless opts.ReadOnly or
// opts.ErrorIfNotExists: then a missing dataset is an error matching
// fs.ErrNotExist). A nil opts means all defaults.
//
// Open maps nothing, and its cost grows linearly with the number of chunk
// files. It checks the whole directory before it changes anything: a
// directory that does not hold a consistent dataset, or a dir that is not a
// directory itself (a symlink to one included, also as "link/": name the
// directory), gives ErrCorrupt and is left exactly as it was. Every name it
// opens is refused unless it is a regular file, without blocking on a FIFO
// or following a symlink: a FIFO, directory or symlink under the manifest's
// name, or under the name of a chunk that [Start, Size) needs, is
// ErrCorrupt (as is one under a temporary name, for a read-write Open). One
// under a chunk name outside [Start, Size) holds nothing of the dataset and
// is left alone, as files Open does not recognise are; a growth that needs
// the name fails. A read-write Open also refuses (ErrCorrupt) a manifest
// with more than one name (hard links, as cp -al makes): another
// directory's writer would write its records and state page too. On Unix,
// Open resolves dir once, as the kernel does
// (symlinks among its parents, ".."), and the Manager keeps that directory:
// a parent symlink pointed elsewhere later does not move it. On Windows,
// Open makes dir absolute, and the Manager keeps that path: a change of the
// working directory after Open does not move it. An empty dir
// is ErrInvalidOptions (the current directory is "."). A failure of
// the operating system (permission denied, too many open files) gives
// ErrIO, the system's error in the chain.
//
// After a crash of the writer's process, Open finds Size and Start where
// the writer last set them (in the manifest's state page, see
// [Manager.Sync]), so every write that returned is there; after a power
// loss, what the last Sync recorded. On success a read-write Open removes
// what a crash can leave behind: temporary files, chunks below the first
// one that a DropBefore had not yet deleted, and chunk files past Size
// (missing, empty, short or whole, none of them holds data); such a chunk
// file that the system refuses to remove (one made immutable), or a
// temporary file it refuses for want of permission (a directory this user
// may not write, another user's file in a sticky one), is left for the
// next Open, and does not fail this one. Files it does not recognise
// are left alone. A read-write Open of a dataset whose
// manifest has the format of earlier versions rewrites it in the current
// one, crash-safely.
//
// A read-write Open locks the directory (flock on Unix, LockFileEx on
// Windows); while it is open, another read-write Open, in this process or
// another, returns ErrLocked. A ReadOnly Open takes no lock: any number of
// readers coexist with each other and with the one writer, and follow it
// live (see [Options.ReadOnly]).
//
// An Open the system refuses a descriptor (EMFILE, ENFILE) closes the idle
// cached files, and the files growth keeps open ahead of a write, of the
// process's other Managers whose locks are free, as their own calls do
// when refused one, and tries once more if it closed any.
func Open(dir string, opts *Options) (*Manager, error) {
	m, err := openOnce(dir, opts)
	var own *roomRefusal // Open's own refusal: cached files do not count
	if err != nil && filesRefused(err) && !errors.As(err, &own) && giveBackOthersFiles(nil) {
		m, err = openOnce(dir, opts)
	}
	return m, err
}

// openOnce is Open, with no second try.
func openOnce(dir string, opts *Options) (*Manager, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, openErr(dir, err)
	}
	if dir == "" {
		return nil, openErr(dir, errEmptyDir)
	}
	// Before anything else, so that a refused Open leaves the directory
	// as it was; every Open, Scratch and ReadOnly too, reserves an arena.
	refreshFileMapBudget()
	if err := roomForArena(); err != nil {
		return nil, openErr(dir, fmt.Errorf("reserve an arena: %w", err))
	}
	reserved, err := roomForFiles(o)
	if err != nil {
		return nil, openErr(dir, err)
	}
	defer managerFiles.Add(-reserved)
	fsys := o.fsys()
	fi, lerr := fsys.Lstat(lastComponent(dir))
	if errors.Is(lerr, fs.ErrNotExist) && !o.ReadOnly && !o.ErrorIfNotExists {
		// Open will create the directory and the dataset: refuse the
		// options that only a new dataset's chunk size can check (Start,
		// and MaxMapped on 32-bit platforms) before anything is made.
		if err := o.newShape(); err != nil {
			return nil, openErr(dir, err)
		}
	}
	if lerr == nil && !fi.IsDir() {
		return nil, openErr(dir, fmt.Errorf("%w: not a directory (it is %s)", ErrCorrupt, vfs.Kind(fi.Mode())))
	} else if errors.Is(lerr, fs.ErrNotExist) && o.ReadOnly {
		return nil, openErr(dir, fmt.Errorf("%w: %w to open: %w", ErrReadOnly, errNoDataset, fs.ErrNotExist))
	} else if errors.Is(lerr, fs.ErrNotExist) && o.ErrorIfNotExists {
		return nil, openErr(dir, fmt.Errorf("%w: %w", errNoDataset, fs.ErrNotExist))
	} else if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
		return nil, openErr(dir, lerr)
	}
	given := dir // what Dir returns; the Manager works in canonicalDir(dir)
	if o.Scratch {
		m, err := openScratch(dir, o)
		if err == nil {
			m.given = given
			m.opened(ownFilesOf(o))
		}
		return m, err
	}
	var (
		lock   *dirLock
		bound  vfs.FS
		unbind func() error
	)
	var made []string // the directories the MkdirAll below makes
	if errors.Is(lerr, fs.ErrNotExist) && !o.ReadOnly {
		made = missingDirs(fsys, dir)
	}
	// made, kept until the dataset is there: an Open that fails removes
	// the directories it made (those still empty), or it would leave a
	// half-made dataset, a directory without a manifest, of a mode that
	// may keep the user's next Open from writing in it (a FileMode of
	// 0o444 makes it 0o555, which only root may write).
	var unmade []string
	for tries := 1; !o.ReadOnly; tries++ {
		if tries > 1 {
			// A concurrent Remove deleted the directory: made again, it
			// is named durably again.
			made = missingDirs(fsys, dir)
		}
		unmade = made
		if err := fsys.MkdirAll(dir, dirMode(o.FileMode)); err != nil {
			unmake(fsys, unmade)
			if errors.Is(err, fs.ErrNotExist) && tries < 3 {
				// A parent went between MkdirAll's look and its
				// mkdir: another Open that had made it, for a dataset
				// beside this one, failed and removed it (unmake), or
				// a Remove ran. Made again, as after a Remove below.
				continue
			}
			return nil, openErr(dir, err)
		}
		if err := syncMade(fsys, made); err != nil {
			return nil, openErr(dir, err)
		}
		made = nil
		dir = canonicalDir(dir)
		// A concurrent Remove may delete the directory between the two,
		// or another program put another in its place before the
		// handles below are opened: then lock the one there now.
		if lock, err = lockDir(dir, true); err == nil {
			// From here on every file of the dataset is named through
			// the directory locked: another program that renames or
			// removes it and makes another under its name sends no
			// call of this Manager there.
			if bound, unbind, err = vfs.Bind(fsys, dir, lock.dir()); err != nil {
				if errors.Is(err, vfs.ErrMoved) {
					err = errDirMoved
				} else {
					err = bindErr(dir, err)
					// While the lock keeps another writer from
					// making its dataset in the directory, as
					// below: once it is let go, the directory,
					// still empty, may be that writer's.
					unmake(fsys, unmade)
				}
				err = errors.Join(err, lock.unlock())
				lock = nil
				unmade = nil
			}
		}
		if err == nil || !errors.Is(err, errDirMoved) || tries == 3 {
			break
		}
	}
	if o.ReadOnly {
		// A reader works in the directory it opens now, as a writer
		// does in the one it locked.
		dir = canonicalDir(dir)
		if bound, unbind, err = vfs.Bind(fsys, dir, nil); errors.Is(err, vfs.ErrMoved) {
			err = fmt.Errorf("%w: the directory was replaced again and again while it was being opened: %w", ErrCorrupt, err)
		} else if errors.Is(err, fs.ErrNotExist) {
			// Removed since the look above (a concurrent Remove): no
			// dataset to open, as if it had been missing then.
			err = fmt.Errorf("%w: %w to open (the directory went while it was being opened): %w", ErrReadOnly, errNoDataset, fs.ErrNotExist)
		} else if err != nil {
			err = bindErr(dir, err)
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrPermission) && !errors.Is(err, ErrLocked) && !errors.Is(err, ErrCorrupt) {
			// The lock was refused for want of permission: the mode
			// Open made the directory with (a FileMode of 0o200 makes
			// it 0o200) keeps this user out, and the user's later
			// Opens with it. No lock is held, so another writer may
			// have locked the directory and be making its dataset in
			// it, still empty: after any other refusal (no descriptor
			// left) the directory stays, as usable as one Open found.
			unmake(fsys, unmade)
		}
		return nil, openErr(dir, err)
	}
	o.fs = bound
	m, err := open(dir, o)
	// A ReadOnly Open holds no lock, so the writer's Truncate or DropBefore
	// may delete chunks after the manifest was read (and growth make them
	// anew, empty at first); the manifest then says so, and reading it
	// again settles it. Beside a writer that cuts and regrows the last
	// chunks every few hundred microseconds, three tries in a row met such
	// changes in up to one Open in two thousand; a dataset that is damaged
	// is reported after readOnlyOpenTries.
	// So is one that met the manifest of a new dataset being created
	// (errManifestAppeared).
	for tries := 1; err != nil && o.ReadOnly && tries < readOnlyOpenTries && (errors.Is(err, ErrCorrupt) || errors.Is(err, errManifestAppeared)); tries++ {
		m, err = open(dir, o)
	}
	if err != nil {
		// While the lock keeps another writer from making the dataset
		// in the directory (see abandon).
		uerr := unbind()
		return nil, openErr(dir, errors.Join(err, uerr, lock.abandon(false, func() error {
			unmake(fsys, unmade)
			return nil
		})))
	}
	m.mu.lock, m.mu.unbind = lock, unbind
	m.given = given
	m.opened(ownFilesOf(o))
	return m, nil
}

// missingDirs returns the directories that MkdirAll(dir) is to make,
// outermost first: dir and those of its parents that do not exist. They
// are prefixes of dir as written, as MkdirAll makes them, not cleaned: a
// ".." after a symlink steps out of the symlink's target (see
// canonicalDir), where filepath.Clean would drop both as text.
func missingDirs(fsys vfs.FS, dir string) []string {
	var made []string
	for d := dir; ; {
		d = strings.TrimRightFunc(d, isPathSep)
		if d == "" || filepath.VolumeName(d) == d {
			break // the root
		}
		if _, err := fsys.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		made = append(made, d)
		i := strings.LastIndexFunc(d, isPathSep)
		if i < 0 {
			break // relative: its parent is the current directory
		}
		d = d[:i+1]
	}
	slices.Reverse(made)
	return made
}

// isPathSep reports whether r separates a path's names. Separators are
// ASCII: a rune such as 'Я' (U+042F), whose low byte is '/', is part of a
// name.
func isPathSep(r rune) bool { return r < utf8.RuneSelf && os.IsPathSeparator(uint8(r)) }

// syncMade fsyncs the parent of each directory in made, which Open has just
// made, outermost first. A directory's name is an entry of its parent, and
// durable only once the parent is fsync'd: without it a power loss could
// take the dataset's directory, and with it everything a Sync acknowledged.
// A parent the process may not read (a directory of mode 0o300) cannot be
// opened to be fsync'd, nor its entry made durable otherwise: it is
// skipped, as the system's refusal of a directory fsync (EINVAL) is. If a
// fsync fails, the directories made are removed again (those still
// empty), so that the next Open makes, and syncs, them anew.
func syncMade(fsys vfs.FS, made []string) error {
	for _, d := range made {
		parent := parentDir(d)
		err := fsys.SyncDir(parent)
		if err == nil || notOpened(err) && errors.Is(err, fs.ErrPermission) {
			continue
		}
		unmake(fsys, made)
		return fmt.Errorf("sync directory %s: %w", parent, unpath(parent, err))
	}
	return nil
}

// unmake removes the directories in made, which Open made, innermost
// first, where they are still empty directories: one that holds anything
// (a dataset another Open made in it meanwhile) stays, as does anything
// else put under its name. What it cannot remove stays; the caller's
// error says why Open failed.
func unmake(fsys vfs.FS, made []string) {
	for _, d := range slices.Backward(made) {
		if fi, err := fsys.Lstat(d); err == nil && fi.IsDir() {
			_ = fsys.Remove(d) // fails on one that is not empty, as it should
		}
	}
}

// readOnlyOpenTries is how many times a ReadOnly Open reads a dataset that
// looks damaged before it says so.
const readOnlyOpenTries = 10

// bindErr is err, from opening dir's handles (vfs.Bind), saying what was
// refused: "open the directory: too many open files", where the bare
// error of the open named only its system call.
func bindErr(dir string, err error) error {
	return fmt.Errorf("open the directory: %w", unpath(dir, err))
}

// openErr is the error of Open on dir caused by err: "open DIR: err", with
// err marked with the sentinel it lacks (see classify) and without a
// *fs.PathError that names dir again, but for its operation: "mkdir:
// permission denied" says what was refused.
func openErr(dir string, err error) error {
	return fmt.Errorf("open %s: %w", dir, classify(unpathOp(dir, err)))
}

func dirMode(perm os.FileMode) os.FileMode {
	return perm | (perm&0o444)>>2
}

// open reads and checks the dataset in dir, cleans up after a crash, and
// returns its Manager. The caller holds the directory lock.
func open(dir string, o Options) (*Manager, error) {
	fsys := o.fsys()
	// The boot's identity, which tells a state page of this boot from an
	// older one: where it cannot be read now (no descriptor left, say) the
	// Open fails, as it would for want of the manifest's, rather than take
	// the page of a writer of this boot for an older one and trust only
	// the last Sync.
	id, bootErr := fsys.BootID()
	if bootErr != nil {
		return nil, bootErr
	}
	boot := bootOf(id)
	// The manifest is read before the directory is listed: a writer in
	// another process creates chunks before it records a Size that needs
	// them, so a ReadOnly Open that listed first could miss chunks that
	// the manifest it read next needs.
	// A writer opens it for writing at once, and keeps it open unless it
	// must write a new one: one open, not three (read, map the state page
	// to check, map it to write). Where that open fails (the system
	// refuses to open the file for writing, or it is not a regular file,
	// which a directory's EISDIR would add to the message), the manifest
	// is opened for reading, as before: the checks below run first, with
	// the errors a reader gets, and a refusal to write comes when the
	// writer opens it to write.
	flag := os.O_RDWR
	if o.ReadOnly {
		flag = os.O_RDONLY
	}
	mf, ms, mfErr := openReadManifest(fsys, dir, flag)
	writable := mf != nil && !o.ReadOnly
	if mf == nil && !o.ReadOnly && !errors.Is(mfErr, fs.ErrNotExist) {
		mf, ms, mfErr = openReadManifest(fsys, dir, os.O_RDONLY)
	}
	// So is the state page, for the same reason: Start and Size, where a
	// writer of this boot set them there, say which chunks must exist.
	var (
		mfl       *manifestFile
		cur       = ms.mf
		ps        pageState
		recovered bool
		err       error
	)
	// A state page that cannot be used is reported after the options are
	// checked against the record, as a damaged record would be.
	var stateErr error
	if mfErr == nil && ms.version == manifestV2 {
		if mfl, cur, ps, stateErr = openState(dir, boot, ms, mf, writable); stateErr != nil {
			cur = ms.mf
		}
		recovered = ps.live && !ps.clean
		if !o.ReadOnly && stateErr == nil && ps.live && !ms.otherBad && pageBehindRecord(cur, ms.mf) {
			// Written over by another program: a writer lowers the
			// record before the page when chunks go (Truncate) and
			// raises its first chunk before the page's Start
			// (DropBefore). Following the page would delete chunk files
			// the record needs; the record is followed instead, as for
			// a page that is garbage. (A reader may meet the page ahead
			// of the record it read, a Truncate between the two, and
			// deletes nothing.)
			//
			// Not where the other record is damaged: the record read
			// may then be the older one, and the page behind it only
			// because it follows the damaged, newer one (a DropBefore
			// whose chunk files are gone, which the older record still
			// needs). A page of this boot outlived no power loss, so
			// the damage is not a Sync's record torn by one but another
			// program's or the device's, and the page is the better
			// witness of what the writer left.
			cur = ms.mf
		}
	} else if mf != nil {
		mf.Close()
	}
	if mfErr == nil && ms.version == manifestV1 && !o.ReadOnly {
		// A version 1 manifest does not say whether its writer closed
		// the dataset or died with stores in the page cache that no
		// Sync covered: the first Sync after the upgrade fsyncs every
		// chunk, as after a crash, so that a nil from it covers them.
		recovered = true
	}
	fail := func(err error) (*Manager, error) {
		if mfl != nil {
			err = errors.Join(err, mfl.close())
		}
		return nil, err
	}
	// A reader of a dataset whose writer of this boot set up the state
	// page checks the chunks by name (checkFollowed), and leaves temporary
	// and stale files to the writer: it has no use for a listing, whose
	// lstat of every entry (os.Root's) cost it one more per chunk.
	following := o.ReadOnly && mfErr == nil && stateErr == nil && ps.live
	var entries []fs.DirEntry
	if !following {
		if entries, err = fsys.ReadDir(dir); err != nil {
			if o.ReadOnly && errors.Is(err, fs.ErrNotExist) {
				// Removed since Open looked (where the FS holds no
				// handle of it): no dataset to read.
				return fail(fmt.Errorf("%w: %w to open (the directory went while it was being opened): %w", ErrReadOnly, errNoDataset, fs.ErrNotExist))
			}
			return fail(fmt.Errorf("list the directory: %w", unpath(dir, err)))
		}
	}
	var (
		chunks       = make([]int64, 0, len(entries))
		listed       = make([]fs.DirEntry, 0, len(entries)) // listed[k] is chunks[k]'s entry
		temps        []string
		haveManifest = following
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
					return fail(fmt.Errorf("%w: %s is not a regular file (it is %s)", ErrCorrupt,
						filepath.Join(dir, name), vfs.Kind(e.Type())))
				}
				continue
			}
			temps = append(temps, name)
		default:
			if i, ok := chunk.ParseName(name); ok {
				chunks = append(chunks, i)
				listed = append(listed, e)
				if !e.Type().IsRegular() { // never removed: not ours
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
		if mfErr != nil && o.ReadOnly && errors.Is(mfErr, fs.ErrNotExist) {
			// A writer renamed the manifest of a new dataset into place
			// between the read and the listing: as of the read there was
			// no dataset, and Open reads it again (errManifestAppeared).
			return fail(fmt.Errorf("%w: %w to open (%s %w): %w", ErrReadOnly, errNoDataset, ManifestName, errManifestAppeared, fs.ErrNotExist))
		}
		if mfErr != nil {
			return fail(mfErr)
		}
		if o.ChunkSize != 0 && o.ChunkSize != ms.mf.chunkSize {
			return fail(fmt.Errorf("%w: ChunkSize %d, but the dataset's chunk size is %d", ErrInvalidOptions, o.ChunkSize, ms.mf.chunkSize))
		}
		if !chunkSizeFits(ms.mf.chunkSize) {
			return fail(fmt.Errorf("%w: the dataset's chunk size %d does not fit the 32-bit address space (at most 1 GiB)", ErrInvalidOptions, ms.mf.chunkSize))
		}
	case len(chunks) > 0:
		return fail(fmt.Errorf("%w: %d chunk files but no %s", ErrCorrupt, len(chunks), ManifestName))
	case o.ReadOnly:
		return fail(fmt.Errorf("%w: %w to open (%s missing): %w", ErrReadOnly, errNoDataset, ManifestName, fs.ErrNotExist))
	case o.ErrorIfNotExists:
		return fail(fmt.Errorf("%w (%s missing): %w", errNoDataset, ManifestName, fs.ErrNotExist))
	default:
		mf, err := o.startOf(o.newChunkSize())
		if err != nil {
			return fail(err)
		}
		ms = manifestState{mf: mf, seq: 1, version: manifestV2}
		create = true
		cur = ms.mf
	}
	if err := o.fitMapped(ms.mf.chunkSize); err != nil {
		return fail(err)
	}
	if stateErr != nil {
		return fail(stateErr)
	}
	if mfl != nil && !o.ReadOnly {
		// A manifest with another name (a copy made with cp -al) is
		// another directory's too: its writer holds a lock of its own,
		// and the one that writes the records or the state page last
		// sets the other's Size, whose next Open then deletes the
		// chunks past it as stale. (A version 1 manifest is rewritten
		// below, under this name alone.)
		if _, linked := vfs.Linked(mfl.info); linked {
			return fail(fmt.Errorf("%w: manifest %s has more than one name (hard links), so another directory's writer may share its records and state page: give this dataset a copy of its own", ErrCorrupt, filepath.Join(dir, ManifestName)))
		}
	}
	shift := log2(ms.mf.chunkSize)

	// Chunks below first are left by a DropBefore that crashed part way;
	// chunks from first on must follow each other without a gap and cover
	// Size; those past Size are spare, or left by a crash during growth
	// or a Truncate.
	sortChunks(chunks, listed)
	var stale []int64
	for len(chunks) > 0 && chunks[0] < cur.first {
		if !irregular[chunks[0]] {
			stale = append(stale, chunks[0])
		}
		chunks, listed = chunks[1:], listed[1:]
	}
	nchunks := chunksFor(cur.size, shift) - cur.first
	if following {
		// Following a writer of this boot, which may cut the dataset
		// while this looks.
		if nchunks, cur, err = checkFollowed(fsys, dir, &sharedPage{p: mfl.st}, boot, ps, cur); err != nil {
			return fail(err)
		}
		m, err := newManager(dir, o, boot, ms, cur, nchunks, mfl, false)
		if err != nil {
			return fail(err)
		}
		// Start and Size came from the live page: a page another
		// program writes over before the first call is reported
		// (pageGone), as after any later one.
		m.followedLive.Store(true)
		return m, nil
	}
	var links chunkLinks
	for k := int64(0); k < nchunks; k++ {
		if k >= int64(len(chunks)) || chunks[k] != cur.first+k {
			return fail(fmt.Errorf("%w: chunk file %s is missing (size %d needs chunks %d to %d)", ErrCorrupt,
				filepath.Join(dir, chunk.Name(cur.first+k)), cur.size, cur.first, cur.first+nchunks-1))
		}
		// The listing's own description where it is an lstat (see
		// chunkInfo): a second lstat per chunk was a third of an Open.
		fi, err := chunkInfo(fsys, dir, chunks[k], listed[k])
		if err == nil && fi.Mode().IsRegular() && fi.Size() == ms.mf.chunkSize {
			if _, linked := vfs.Linked(fi); !linked {
				continue // as checkChunkFile and links.check find it, without the path they name
			}
		}
		path := filepath.Join(dir, chunk.Name(chunks[k]))
		if errors.Is(err, fs.ErrNotExist) {
			// Removed since the listing: a writer's Truncate or DropBefore.
			return fail(fmt.Errorf("%w: chunk file %s is missing (size %d)", ErrCorrupt, path, cur.size))
		}
		if err != nil {
			return fail(err)
		}
		if err := checkChunkFile(path, fi, ms.mf.chunkSize); err != nil {
			return fail(err)
		}
		if err := links.check(path, fi); err != nil {
			return fail(err)
		}
	}
	var past []int64 // the regular chunk files past Size, which are stale too
	for _, idx := range chunks[min(nchunks, int64(len(chunks))):] {
		if !irregular[idx] {
			past = append(past, idx)
		}
	}
	stale = append(stale, past...)

	if o.ReadOnly {
		m, err := newManager(dir, o, boot, ms, cur, nchunks, mfl, false)
		if err != nil {
			return fail(err)
		}
		return m, nil
	}
	if ps.damaged() && len(past) > 0 {
		return fail(pageDamagedErr(dir, cur.size, past))
	}
	// The manifest opened read-only goes, and so does one the listing
	// did not show (another program removed it in between): a new
	// manifest is written in its place, and mapped below.
	if mfl != nil && (!mfl.writable || create) {
		if err := mfl.close(); err != nil {
			return nil, err
		}
		mfl = nil
	}
	// Every check passed: from here on the directory changes. (A new
	// dataset, and one of version 1, had no state page to keep open.)
	if create {
		// The new dataset's manifest goes again if Open fails from here
		// on, or it would stay as a dataset that no Open may have made:
		// with a FileMode its user may not write (0o444), none of that
		// user's Opens could open it again. Open removes the directory
		// too if it made it (unmake). From here on, createManifest
		// included: its last step, the directory's fsync, fails after
		// the rename has put the manifest in place. (The lock keeps any
		// other writer's manifest from the name meanwhile.)
		fail0 := fail
		fail = func(err error) (*Manager, error) {
			m, err := fail0(err)
			if rerr := removeFile(fsys, filepath.Join(dir, ManifestName)); rerr == nil {
				_ = fsys.SyncDir(dir)
			}
			return m, err
		}
	}
	if create || ms.version == manifestV1 {
		// A version 1 manifest replaced stays replaced: the new one
		// holds the same record.
		var old fs.FileInfo
		if !create {
			if old, err = fsys.Lstat(filepath.Join(dir, ManifestName)); err != nil {
				return fail(err)
			}
		}
		if err := createManifest(fsys, dir, ms.mf, o.FileMode, old, boot); err != nil {
			return fail(err)
		}
		ms.seq, ms.version = firstSeq, manifestV2
	}
	if mfl == nil {
		if mfl, err = openManifestFile(fsys, dir, true); err != nil {
			return fail(err)
		}
	}
	// Where the page followed is behind the one valid record (the other
	// is damaged: see above), that record needs chunk files outside the
	// page's extent, which a DropBefore or Truncate recorded in the
	// damaged one has deleted (and the stale ones go below). A record
	// within the page's extent goes first, in the damaged one's place,
	// so that no record names a file that is gone: without it a power
	// loss, which voids the page, left a dataset Open refuses, and a
	// Truncate or DropBefore built its record from the old one. It claims
	// no byte the old one did not. Should it fail, nothing was deleted.
	if ms.otherBad && pageBehindRecord(cur, ms.mf) {
		rec := ms.mf
		rec.first = max(rec.first, cur.first)
		rec.size = max(min(rec.size, cur.size), rec.first<<shift)
		if hard, soft := mfl.writeRecord(rec, ms.seq+1); hard != nil || soft != nil {
			return fail(errors.Join(hard, soft))
		}
		ms.mf, ms.seq, ms.otherBad = rec, ms.seq+1, false
	}
	for _, name := range temps {
		// A temporary file never holds data: one the system refuses to
		// remove (a directory this user may not write, another user's
		// file in a sticky one) stays for the next Open, as a stale
		// chunk file does, instead of keeping the dataset from a writer
		// that can write every byte of it in place. Nothing uses its
		// name as it is: createManifest removes MANIFEST.tmp before it
		// makes one (and fails there, naming it), and temporary chunk
		// names are version 0.1.0's or a scratch chunk's random one.
		if err := removeFile(fsys, filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fail(err)
		}
	}
	for _, idx := range stale {
		// A leftover holds nothing of the dataset: one the system
		// refuses to remove (made immutable, say) stays for the next
		// Open, and growth replaces one past Size where it needs its
		// name (createFileLocked). Refusing the dataset for it would
		// keep every intact byte from its owner.
		_ = removeFile(fsys, filepath.Join(dir, chunk.Name(idx)))
	}
	m, err := newManager(dir, o, boot, ms, cur, nchunks, mfl, recovered)
	if err != nil {
		return fail(err)
	}
	// newManager may have set it already (a crash left names unsynced).
	m.mu.dirDirty = m.mu.dirDirty || len(temps)+len(stale) > 0
	return m, nil
}

// newManager returns the Manager of a checked dataset whose newest record
// is ms and whose current extent is cur, with nchunks chunk files from
// cur.first, and reserves its arena. mfl is the open manifest file (nil for
// Scratch and for a reader of a version 1 manifest); a writer sets up its
// state page. recovered says that a writer's process died with writes in
// the page cache that no Sync covered: the first Sync fsyncs every chunk.
// boot is the running boot's identity as the state page stores it (none
// for Scratch, which has no page).
func newManager(dir string, o Options, boot [48]byte, ms manifestState, cur manifest, nchunks int64, mfl *manifestFile, recovered bool) (*Manager, error) {
	shift := log2(ms.mf.chunkSize)
	m := &Manager{
		dir:       dir,
		opts:      o,
		fsys:      o.fsys(),
		chunkSize: ms.mf.chunkSize,
		shift:     shift,
		mask:      ms.mf.chunkSize - 1,
		rmul:      recentMul(shift),
		mfile:     mfl,
		boot:      boot,
	}
	m.live.Store(true)
	m.opts.ChunkSize = ms.mf.chunkSize
	if err := m.reserveArena(nchunks); err != nil {
		return nil, err
	}
	if !o.Scratch {
		m.placeIn(dir) // a scratch Manager's once its directory is made
	}
	// NewLRU fails only for a size below 1. The Manager bounds the mapped
	// count itself (held chunks may exceed MaxMapped), so the LRU's own
	// bound must never evict.
	m.mu.lru, _ = simplelru.NewLRU[int64, *mapping](math.MaxInt32, nil)
	m.mu.mapBound = m.opts.MaxMapped
	m.mu.scratch = make(map[int64]*chunk.File)
	m.mu.removeLater = make(map[int64]struct{})
	m.mu.fdsInUse = make(map[int64]int)
	m.mu.dirty = make(map[int64]struct{})
	if !m.opts.Scratch && !m.opts.ReadOnly {
		m.mu.clean.left = cleanWrites
	}
	m.mu.ids = make(map[int64]fs.FileInfo)
	m.mu.freq = make(map[int64]uint16)
	m.mu.fds = make(map[int64]*fdEntry)
	// The files of a Manager dropped without Close are closed by the
	// runtime once they are unreachable; they then leave the process's
	// count of cached files with it (see filesInProcess).
	m.cached = new(atomic.Int64)
	runtime.AddCleanup(m, func(n *atomic.Int64) { filesInProcess.Add(-n.Load()) }, m.cached)
	m.mu.alloc = make(map[int64]chunkAlloc)
	m.ahead.changed.L = &m.ahead.mu
	cs := m.chunkSize
	m.stages.New = func() any { b := make([]byte, cs); return &b }
	m.mu.idle.L = &m.mu.Mutex
	m.mu.covered.L = &m.mu.Mutex
	m.mu.first = cur.first
	m.mu.nchunks = nchunks
	m.mu.reserved = cur.size
	// Unsynced writes before a crash may have left data past Size anywhere
	// in the existing chunks. (Capped: past the top chunk the shift would
	// overflow to a negative hwm, and stale bytes would never be zeroed.)
	m.mu.hwm = chunkOffset(cur.first+nchunks, shift)
	m.mu.durable = ms.mf
	m.mu.seq = ms.seq
	m.st.start.Store(cur.first << shift)
	m.st.size.Store(cur.size)
	switch {
	case mfl != nil && !o.ReadOnly:
		m.shared = &sharedPage{p: mfl.st}
		if _, ok := m.shared.setup(m.boot, cur.first<<shift, cur.size); !ok {
			m.unreserve()
			return nil, fmt.Errorf("%w: manifest %s: its state page faults (the file was truncated)", ErrCorrupt, mfl.f.Name())
		}
		// After a crash of the process the page on disk may hold values
		// older than the page cache's: the first Sync fsyncs it.
		m.mu.pageSynced = [2]int64{cur.first << shift, cur.size}
		if recovered {
			m.mu.pageSynced = [2]int64{-1, -1}
		}
		// The manifest, written whole, allocates nothing more when asked.
		m.fillChunks = errors.Is(mfl.f.Allocate(0, manifestLen), errors.ErrUnsupported)
		m.mu.probed = true
		if recovered {
			for idx := cur.first; idx < cur.first+nchunks; idx++ {
				m.mu.dirty[idx] = struct{}{}
			}
			m.mu.dirDirty = true
		}
	case mfl != nil:
		m.shared = &sharedPage{p: mfl.st}
		m.follows.Store(true)
		// Start and Size above were read before the chunk files were
		// checked: a writer may have shrunk the dataset since, moving the
		// epoch. Taking the page's epoch now as seen would make the
		// reader raise Size within it but never lower it to the
		// writer's. So no epoch is seen yet: the first call follows the
		// writer under the lock (followLocked), which takes Start, Size
		// and the epoch together.
		m.seen.Store(midFollow)
	}
	return m, nil
}

// placeIn sets the Manager's directory, dir, and what depends on the file
// system that holds it.
func (m *Manager) placeIn(dir string) {
	m.dir = dir
	tmpfs := chunk.HolesFault(dir)
	m.allocAlign = allocAlign(m.chunkSize, tmpfs)
	m.allocStep = allocStep(m.chunkSize, m.allocAlign)
	m.holesFault = !m.opts.ReadOnly && !keepHoles && tmpfs
}

// unreserve gives back the arena of a Manager that newManager returned and
// Open then failed to set up: nothing is mapped in it yet.
func (m *Manager) unreserve() {
	releaseArena(m.ar)
	arenasHeld.Add(-1)
}

// openScratch returns an empty scratch Manager in dir (Options.Scratch).
func openScratch(dir string, o Options) (*Manager, error) {
	// Checked before the directory is made, so that an Open refused for
	// its options creates nothing. (One refused later, for want of a
	// descriptor for the directory's handles or its first chunk file,
	// leaves the directories it made, unless the process may not write in
	// them: see the probe below.)
	mf, err := o.startOf(o.newChunkSize())
	if err == nil {
		err = o.fitMapped(mf.chunkSize)
	}
	if err != nil {
		return nil, openErr(dir, err)
	}
	// The arena too, which the address space may not hold: an Open that
	// failed after it made the directory would have to remove it again,
	// and could not tell whether another Open, a scratch dataset's
	// (which names no file in it) or a writer's not yet locked, had
	// begun to use it meanwhile.
	m, err := newManager("", o, [48]byte{}, manifestState{mf: mf}, mf, 0, nil, false)
	if err != nil {
		return nil, openErr(dir, err)
	}
	fsys := o.fsys()
	made := missingDirs(fsys, dir)
	if err := fsys.MkdirAll(dir, dirMode(o.FileMode)); err != nil {
		// Those it made before the refusal (of a deeper one).
		unmake(fsys, made)
		m.unreserve()
		return nil, openErr(dir, err)
	}
	orig := dir
	dir = canonicalDir(dir)
	// Its chunk files are made through handles of the directory, as a
	// writer's are through those of the directory it locked: another
	// program that moves the directory, or puts another (a symlink
	// elsewhere) under its name, sends none of them there.
	bound, unbind, err := vfs.Bind(fsys, dir, nil)
	if err != nil {
		m.unreserve()
		if errors.Is(err, vfs.ErrMoved) {
			return nil, openErr(orig, fmt.Errorf("%w: the directory was replaced again and again while it was being opened: %w", ErrCorrupt, err))
		}
		return nil, openErr(orig, bindErr(dir, err))
	}
	// A chunk file made and let go of at once, so that a directory in
	// which none can be made (a read-only file system, a mode the process
	// may not write in) fails the Open, as it fails a writer's, and not
	// the first write. Where it was refused for want of permission, the
	// directories this Open made go again: none of another Open's files
	// can be in them either, and a mode that keeps this process out (a
	// FileMode of 0o444 makes them 0o555) would keep out its next Open.
	if err := chunk.ProbeScratch(bound, dir, o.FileMode); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			unmake(fsys, made)
		}
		m.unreserve()
		return nil, openErr(orig, errors.Join(fmt.Errorf("make a chunk file: %w", unpath(dir, err)), unbind()))
	}
	m.placeIn(dir)
	m.fsys, m.opts.fs = bound, bound
	m.mu.unbind = unbind
	return m, nil
}

// openChunk opens chunk idx unmapped: by name, or for a scratch dataset,
// which has no names, as a clone of the descriptor kept since its creation;
// a chunk whose file growth still owes is settled first (ahead.go).
//
// REQUIRES: m.mu held.
func (m *Manager) openChunk(idx int64, mode chunk.Mode) (*chunk.File, error) {
	if m.opts.Scratch {
		f := m.mu.scratch[idx]
		if f == nil {
			return nil, fmt.Errorf("%s: %w", m.chunkPath(idx), fs.ErrNotExist)
		}
		return f.Clone()
	}
	if f, err := m.settleLocked(idx); f != nil || err != nil {
		return f, err
	}
	return chunk.Open(m.fsys, m.dir, idx, m.chunkSize, mode)
}

// chunkPath returns the path of chunk idx's file, for messages.
func (m *Manager) chunkPath(idx int64) string {
	if m.opts.Scratch {
		return filepath.Join(m.dir, chunk.Name(idx)) + " (scratch)" // as chunk.CreateScratch names it
	}
	return filepath.Join(m.dir, chunk.Name(idx))
}

func removeFile(fsys vfs.FS, path string) error {
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// sortChunks sorts the chunk indexes of a listing, and their entries with
// them.
func sortChunks(chunks []int64, listed []fs.DirEntry) {
	if slices.IsSorted(chunks) { // as ReadDir lists them: by name
		return
	}
	perm := make([]int, len(chunks))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int { return cmp.Compare(chunks[a], chunks[b]) })
	c, l := slices.Clone(chunks), slices.Clone(listed)
	for i, j := range perm {
		chunks[i], listed[i] = c[j], l[j]
	}
}

// pageBehindRecord reports whether page, the extent a live state page
// says, needs fewer chunks than record, the newest record, or starts at a
// later chunk: what no writer leaves.
func pageBehindRecord(page, record manifest) bool {
	shift := log2(record.chunkSize)
	return page.first > record.first || chunksFor(page.size, shift) < chunksFor(record.size, shift)
}

// pageDamagedErr is the error of a read-write Open of dir whose state
// page is damaged (pageState.damaged) while the chunk files past, past the
// Size size of the manifest's record, remain: a writer that died after its
// last Sync kept its Size in the page, where it is lost, and those files
// may hold writes that returned before it died, which a crash of the
// process must not lose. The Open, which would delete them, refuses, and
// changes nothing. (A damaged record cannot be told from one a power loss
// tore, which leaves such files holding only writes no Sync acknowledged,
// and Open goes on there; no power loss leaves a damaged page.)
func pageDamagedErr(dir string, size int64, past []int64) error {
	files := "chunk file " + chunk.Name(past[0])
	if len(past) > 1 {
		files = fmt.Sprintf("%d chunk files (%s to %s)", len(past), chunk.Name(past[0]), chunk.Name(past[len(past)-1]))
	}
	return fmt.Errorf("%w: manifest %s: its state page is damaged (another program wrote over it), so the Size a writer kept there after its last Sync is unknown, and %s past the recorded Size %d may hold its writes: a read-write Open would delete them; copy them with 'chunkmap salvage', or remove them to open the dataset as of its last Sync (a ReadOnly Open shows it)",
		ErrCorrupt, filepath.Join(dir, ManifestName), files, size)
}

// checkChunkFile reports ErrCorrupt unless fi, the Lstat of the chunk file
// at path, describes a regular file of chunkSize bytes.
func checkChunkFile(path string, fi fs.FileInfo, chunkSize int64) error {
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: chunk file %s is not a regular file (it is %s), want one of %d bytes", ErrCorrupt,
			path, vfs.Kind(fi.Mode()), chunkSize)
	case fi.Size() != chunkSize:
		return fmt.Errorf("%w: chunk file %s has %d bytes, want %d", ErrCorrupt, path, fi.Size(), chunkSize)
	}
	return nil
}

// chunkLinks finds two chunk files of a dataset that are one file, under
// two names (hard links): what no writer makes, and what a store through
// one would change under the other's offsets. It keeps only files with
// more than one name, so an Open of a dataset without hard links makes no
// map. A chunk file whose other names lie outside the dataset is no
// concern of it: stores change what those names hold (see the README).
type chunkLinks map[vfs.FileID]string

// check reports ErrCorrupt where the chunk file at path, described by fi,
// is a file that check saw under another chunk name before.
func (l *chunkLinks) check(path string, fi fs.FileInfo) error {
	key, ok := vfs.Linked(fi)
	if !ok {
		return nil
	}
	if other, dup := (*l)[key]; dup {
		return fmt.Errorf("%w: chunk files %s and %s are one file (hard links to it), which would hold two chunks' bytes", ErrCorrupt, other, path)
	}
	if *l == nil {
		*l = make(chunkLinks)
	}
	(*l)[key] = path
	return nil
}

// openState maps the state page of f, the version 2 manifest of dir open
// (for writing if writable), whose newest record is ms, and returns it with
// the extent to open: the state page's Start and Size where a writer of
// this boot set them (recovered if that writer did not close cleanly: the
// page cache may hold writes no Sync covered), the record's otherwise. The
// manifestFile returned owns f; on error f is closed.
func openState(dir string, boot [48]byte, ms manifestState, f vfs.File, writable bool) (mfl *manifestFile, cur manifest, ps pageState, err error) {
	if mfl, err = mapManifestFile(f, writable); err != nil {
		return nil, manifest{}, pageState{}, err
	}
	path := filepath.Join(dir, ManifestName)
	ps, ok := (&sharedPage{p: mfl.st}).load(boot)
	if !ok {
		return nil, manifest{}, pageState{}, errors.Join(fmt.Errorf("%w: manifest %s: its state page faults (the file was truncated)", ErrCorrupt, path), mfl.close())
	}
	if !ps.live {
		return mfl, ms.mf, ps, nil
	}
	if cur, err = pageExtent(path, ms.mf.chunkSize, ps); err != nil {
		return nil, manifest{}, pageState{}, errors.Join(err, mfl.close())
	}
	return mfl, cur, ps, nil
}

// pageExtent returns the extent a live state page ps of the manifest at
// path says, for chunk size cs, or ErrCorrupt if it is not one.
func pageExtent(path string, cs int64, ps pageState) (manifest, error) {
	shift := log2(cs)
	cur := manifest{chunkSize: cs, first: ps.start >> shift, size: ps.size}
	if err := cur.check(); err != nil || ps.start != cur.first<<shift {
		return manifest{}, fmt.Errorf("%w: manifest %s: state page: start %d, size %d", ErrCorrupt, path, ps.start, ps.size)
	}
	return cur, nil
}

// checkFollowed checks, for a ReadOnly Open of a dataset whose writer of
// this boot set up the state page (page, as loaded in ps, saying cur),
// that the chunk files Start and Size need are there, and returns how many
// there are from the first and the extent it checked. A live writer may
// cut the dataset meanwhile: it counts the cut in the page and moves the
// epoch before it deletes files (and may make them anew, empty at first),
// so a file missing or failing the check is no damage if a cut since the
// pass began could have reached it, or Start has passed it: the page is
// taken again, with the extent it says now. Otherwise, or when the page
// cannot tell, it is ErrCorrupt. The files are looked at by name, not from
// a listing, which a writer that cuts every few hundred microseconds would
// outdate before the check of a large dataset ended.
func checkFollowed(fsys vfs.FS, dir string, page *sharedPage, boot [48]byte, ps pageState, cur manifest) (int64, manifest, error) {
	path := filepath.Join(dir, ManifestName)
	shift := log2(cur.chunkSize)
	for tries := 1; ; tries++ {
		// The cuts counted before the page is taken: those after may
		// have deleted what this pass finds missing.
		id0, c0, _, marked := page.cutMark()
		if now, ok := page.load(boot); ok && now.live {
			next, err := pageExtent(path, cur.chunkSize, now)
			if err != nil {
				return 0, manifest{}, err
			}
			ps, cur = now, next
		}
		need := chunksFor(cur.size, shift)
		var bad error
		var links chunkLinks
		badIdx := int64(-1)
		for idx := cur.first; idx < need && bad == nil; idx++ {
			badIdx = idx
			name := filepath.Join(dir, chunk.Name(idx))
			fi, err := fsys.Lstat(name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				bad = fmt.Errorf("%w: chunk file %s is missing (size %d needs chunks %d to %d)", ErrCorrupt, name, cur.size, cur.first, need-1)
			case err != nil:
				return 0, manifest{}, err
			default:
				if bad = checkChunkFile(name, fi, cur.chunkSize); bad == nil {
					bad = links.check(name, fi)
				}
			}
		}
		if bad == nil {
			return need - cur.first, cur, nil
		}
		now, ok := page.load(boot)
		cutAway := ok && now.live && now.epoch != ps.epoch &&
			(!marked || now.start>>shift > badIdx || !page.uncut(id0, c0, badIdx<<shift+1))
		if !cutAway || tries == followOpenTries {
			return 0, manifest{}, bad
		}
	}
}

// followOpenTries is how many passes checkFollowed makes, each after the
// writer cut the dataset where the pass before found a file missing.
const followOpenTries = 100
