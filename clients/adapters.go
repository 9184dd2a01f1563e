// Package clients checks that third-party programs that want a file work,
// byte for byte, on top of a chunkmap dataset. This file holds the adapters:
// an io.Writer that appends to a Manager, and a SQLite VFS
// (github.com/ncruces/go-sqlite3/vfs) whose files are chunkmap datasets;
// pebblefs.go holds a pebble vfs.FS of the same kind.
package clients

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/chunkmap/chunkmap"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// AppendWriter is an io.Writer that appends every Write to M.
type AppendWriter struct {
	M *chunkmap.Manager
	// Off is where the next Write is expected to land (checked: an
	// Append to a Manager that someone else also appends to would land
	// elsewhere).
	Off int64
}

func (w *AppendWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	off, err := w.M.Append(p)
	if err != nil {
		return 0, err
	}
	if off != w.Off {
		return 0, errors.New("clients: Append landed at an unexpected offset")
	}
	w.Off += int64(len(p))
	return len(p), nil
}

// VFSStats counts what SQLite asked of the VFS.
type VFSStats struct {
	Opens, Scratch, Deletes    atomic.Int64
	Reads, ShortReads, Writes  atomic.Int64
	Truncates, Syncs, SizeHint atomic.Int64
	Straddles                  atomic.Int64 // reads or writes across a chunk boundary
}

// VFS is a SQLite VFS whose every named file (database, journal, WAL,
// super-journal) is a chunkmap dataset: the file's path is the dataset's
// directory. Files SQLite opens without a name (temp databases, statement
// journals, sorter files) are Scratch datasets in directories under
// ScratchRoot. The WAL index (-shm) is an ordinary file made by
// vfs.NewSharedMemory, next to the dataset directories, when WAL is set.
//
// Delete renames a dataset aside before it removes it, so that a crash
// never leaves SQLite a half-removed journal (see Delete); a write that
// fails with chunkmap.ErrNoSpace is SQLITE_FULL.
//
// Locking is in-process: every connection to a path shares one Manager
// (a read-write Manager locks its directory, so a second Open of the same
// dataset in this process would fail) and one lock state.
type VFS struct {
	Opts        chunkmap.Options // template for every dataset
	ScratchRoot string
	WAL         bool // give main databases a shared-memory WAL index
	// ReadOnly opens every named dataset with Options.ReadOnly: a Manager
	// that follows the dataset's writer (another VFS, or another process).
	ReadOnly bool
	Stats    VFSStats
	// Frozen makes every write, truncate, sync and delete fail, as if the
	// process had died at that moment: what is in the datasets stays, and
	// SQLite cannot clean up (a hot journal is left behind).
	Frozen atomic.Bool

	mu   sync.Mutex
	open map[string]*dataset
}

type dataset struct {
	name string
	m    *chunkmap.Manager
	refs int // guarded by VFS.mu

	lockMtx  sync.Mutex
	shared   int
	reserved bool
	pending  bool

	deleteOnClose bool
}

var _ vfs.VFS = (*VFS)(nil)

// Open opens (or creates) the dataset for name.
func (v *VFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	v.Stats.Opens.Add(1)
	if name == "" {
		return v.openScratch(flags)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.open == nil {
		v.open = map[string]*dataset{}
	}
	// Every handle of a ReadOnly VFS is read-only, whether or not the
	// dataset is open already: a writable one on a following Manager
	// would have its writes refused under a transaction SQLite began.
	if v.ReadOnly && flags&vfs.OPEN_READONLY == 0 {
		return nil, flags, sqlite3.CANTOPEN
	}
	d := v.open[name]
	if d != nil && flags&vfs.OPEN_EXCLUSIVE != 0 {
		return nil, flags, sqlite3.CANTOPEN
	}
	if d == nil {
		exists := datasetExists(name)
		if exists && flags&vfs.OPEN_EXCLUSIVE != 0 && flags&vfs.OPEN_CREATE != 0 {
			return nil, flags, sqlite3.CANTOPEN
		}
		opts := v.Opts
		opts.ErrorIfNotExists = flags&vfs.OPEN_CREATE == 0
		if v.ReadOnly {
			opts.ReadOnly, opts.ErrorIfNotExists = true, false
		}
		m, err := chunkmap.Open(name, &opts)
		if err != nil {
			return nil, flags, sysErr(err, sqlite3.CANTOPEN)
		}
		d = &dataset{name: name, m: m}
		v.open[name] = d
	}
	d.refs++
	if flags&vfs.OPEN_DELETEONCLOSE != 0 {
		d.deleteOnClose = true
	}
	f := &file{v: v, d: d, readOnly: flags&vfs.OPEN_READONLY != 0, flags: flags}
	if v.WAL {
		f.shm = vfs.NewSharedMemory(name+"-shm", flags)
	}
	return f, flags, nil
}

func (v *VFS) openScratch(flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	v.Stats.Scratch.Add(1)
	if v.ScratchRoot == "" {
		return nil, flags, sqlite3.CANTOPEN
	}
	dir, err := os.MkdirTemp(v.ScratchRoot, "scratch-")
	if err != nil {
		return nil, flags, sysErr(err, sqlite3.CANTOPEN)
	}
	opts := v.Opts
	opts.Scratch = true
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		os.Remove(dir)
		return nil, flags, sysErr(err, sqlite3.CANTOPEN)
	}
	d := &dataset{name: dir, m: m, refs: 1}
	return &file{v: v, d: d, scratch: true, flags: flags}, flags, nil
}

func datasetExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, chunkmap.ManifestName))
	return err == nil
}

// Delete removes the dataset for name.
func (v *VFS) Delete(name string, syncDir bool) error {
	v.Stats.Deletes.Add(1)
	if v.Frozen.Load() {
		return sqlite3.IOERR_DELETE
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if d := v.open[name]; d != nil {
		// Unix lets SQLite unlink an open file; a locked dataset cannot
		// be removed. SQLite closes its journal before deleting it, so
		// this does not happen with one process.
		return sqlite3.IOERR_DELETE
	}
	if !datasetExists(name) {
		return sqlite3.IOERR_DELETE_NOENT
	}
	// SQLite counts on xDelete being atomic, as unlink is: in DELETE
	// journal mode the journal's deletion is the commit point, and a
	// journal that is still there is hot and is rolled back. Remove
	// deletes a dataset file by file (the chunks from the highest down,
	// then the manifest), so a crash part way left a manifest whose
	// chunks are missing: the next Open of the journal failed with
	// ErrCorrupt and the database could not be opened at all. The
	// dataset is first renamed out of the way, in one step, and the
	// renamed directory removed after; one a crash left behind is
	// removed before the next rename (a rename cannot replace a
	// directory that is not empty).
	tomb := name + deletedSuffix
	if err := removeTomb(tomb); err != nil {
		return sysErr(err, sqlite3.IOERR_DELETE)
	}
	if err := os.Rename(name, tomb); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return sqlite3.IOERR_DELETE_NOENT
		}
		return sysErr(err, sqlite3.IOERR_DELETE)
	}
	if syncDir {
		if err := syncParent(name); err != nil {
			return sysErr(err, sqlite3.IOERR_DIR_FSYNC)
		}
	}
	if err := removeTomb(tomb); err != nil {
		return sysErr(err, sqlite3.IOERR_DELETE)
	}
	return nil
}

// deletedSuffix names the directory a dataset is renamed to as the VFS
// deletes it (see Delete). No file SQLite names ends with it.
const deletedSuffix = ".chunkmap-deleted"

// removeTomb removes the dataset renamed to tomb by Delete, if any.
func removeTomb(tomb string) error {
	if _, err := os.Lstat(tomb); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := chunkmap.Remove(tomb)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing of a dataset left in it (a crash after Remove
		// emptied it): remove the directory itself.
		err = os.Remove(tomb)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	return err
}

// syncParent fsyncs the directory that holds name, so that a change of
// name's directory entry is durable.
func syncParent(name string) error {
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Access reports whether the dataset for name exists.
func (v *VFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.open[name] != nil {
		return true, nil
	}
	return datasetExists(name), nil
}

// FullPathname makes name absolute.
func (v *VFS) FullPathname(name string) (string, error) {
	return filepath.Abs(name)
}

// file is one SQLite handle on a dataset.
type file struct {
	v        *VFS
	d        *dataset
	lock     vfs.LockLevel
	readOnly bool
	scratch  bool
	flags    vfs.OpenFlag
	shm      vfs.SharedMemory
	closed   bool
	// hasReserved says that this handle holds the dataset's RESERVED
	// lock: one that went from SHARED straight to EXCLUSIVE never took it,
	// and must not release another handle's when it unlocks.
	hasReserved bool
}

var (
	_ vfs.FileLockState    = (*file)(nil)
	_ vfs.FileSizeHint     = (*file)(nil)
	_ vfs.FileSharedMemory = (*file)(nil)
)

func (f *file) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.shm != nil {
		f.shm.Close()
	}
	if f.scratch {
		err := f.d.m.Close()
		if rerr := os.Remove(f.d.name); err == nil {
			err = rerr
		}
		return sysErr(err, sqlite3.IOERR_CLOSE)
	}
	f.Unlock(vfs.LOCK_NONE)
	v := f.v
	v.mu.Lock()
	defer v.mu.Unlock()
	d := f.d
	if d.refs--; d.refs > 0 {
		return nil
	}
	delete(v.open, d.name)
	err := d.m.Close()
	if err == nil && d.deleteOnClose {
		err = chunkmap.Remove(d.name)
	}
	return sysErr(err, sqlite3.IOERR_CLOSE)
}

func (f *file) straddles(n int, off int64) bool {
	cs := f.d.m.ChunkSize()
	return n > 0 && off/cs != (off+int64(n)-1)/cs
}

// ReadAt passes the Manager's ReadAt through unchanged: a short read at
// the end returns io.EOF, which the vfs package turns into
// SQLITE_IOERR_SHORT_READ after zero-filling the rest of the buffer.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.v.Stats.Reads.Add(1)
	if f.straddles(len(p), off) {
		f.v.Stats.Straddles.Add(1)
	}
	n, err := f.d.m.ReadAt(p, off)
	if err == io.EOF {
		f.v.Stats.ShortReads.Add(1)
		return n, io.EOF
	}
	if err != nil {
		return n, sysErr(err, sqlite3.IOERR_READ)
	}
	return n, nil
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if f.readOnly {
		return 0, sqlite3.READONLY
	}
	if f.v.Frozen.Load() {
		return 0, sqlite3.IOERR_WRITE
	}
	f.v.Stats.Writes.Add(1)
	if f.straddles(len(p), off) {
		f.v.Stats.Straddles.Add(1)
	}
	n, err := f.d.m.WriteAt(p, off)
	if err != nil {
		return n, spaceErr(err, sqlite3.IOERR_WRITE)
	}
	return n, nil
}

func (f *file) Truncate(size int64) error {
	if f.readOnly {
		return sqlite3.READONLY
	}
	if f.v.Frozen.Load() {
		return sqlite3.IOERR_TRUNCATE
	}
	f.v.Stats.Truncates.Add(1)
	return spaceErr(f.d.m.Truncate(size), sqlite3.IOERR_TRUNCATE)
}

func (f *file) Sync(flags vfs.SyncFlag) error {
	if f.v.Frozen.Load() {
		return sqlite3.IOERR_FSYNC
	}
	f.v.Stats.Syncs.Add(1)
	return sysErr(f.d.m.Sync(), sqlite3.IOERR_FSYNC)
}

func (f *file) Size() (int64, error) {
	return f.d.m.Size(), nil
}

// SizeHint reserves room for the file to grow to size without changing
// Size (SQLITE_FCNTL_SIZE_HINT), which is what Manager.Grow does.
func (f *file) SizeHint(size int64) error {
	f.v.Stats.SizeHint.Add(1)
	if f.v.Frozen.Load() {
		return sqlite3.IOERR_TRUNCATE
	}
	if cur := f.d.m.Size(); size > cur && !f.readOnly {
		return spaceErr(f.d.m.Grow(size-cur), sqlite3.IOERR_TRUNCATE)
	}
	return nil
}

func (f *file) SectorSize() int { return 512 }

func (f *file) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_SUBPAGE_READ | vfs.IOCAP_POWERSAFE_OVERWRITE
}

func (f *file) SharedMemory() vfs.SharedMemory { return f.shm }

func (f *file) LockState() vfs.LockLevel { return f.lock }

// Lock and Unlock follow SQLite's five-level protocol in memory, like the
// memdb VFS of go-sqlite3: the lock state is the dataset's, shared by every
// handle on it in this process. Unlike memdb's, every way to EXCLUSIVE
// passes PENDING, as in os_unix.c: the pager goes from SHARED straight to
// EXCLUSIVE to roll back a hot journal, and no other handle may take
// SHARED meanwhile. A lock that cannot be had is SQLITE_BUSY at once, as
// os_unix.c's xLock never blocks: waiting is the busy handler's (the
// connection's busy_timeout), which retries through the VFS's Sleep. A
// wait here, on the clock, added its own to every try, and inside a
// testing/synctest bubble, whose clock moves only when every goroutine in
// it is blocked, timed out at once or never.
func (f *file) Lock(lock vfs.LockLevel) error {
	if f.lock >= lock {
		return nil
	}
	if f.scratch {
		f.lock = lock
		return nil
	}
	if f.readOnly && lock >= vfs.LOCK_RESERVED {
		return sqlite3.IOERR_LOCK
	}
	d := f.d
	d.lockMtx.Lock()
	defer d.lockMtx.Unlock()
	switch lock {
	case vfs.LOCK_SHARED:
		if d.pending {
			return sqlite3.BUSY
		}
		d.shared++
	case vfs.LOCK_RESERVED:
		if d.reserved {
			return sqlite3.BUSY
		}
		d.reserved = true
		f.hasReserved = true
	case vfs.LOCK_EXCLUSIVE:
		if f.lock < vfs.LOCK_PENDING {
			// From SHARED too (a hot journal's rollback): PENDING
			// first, so that no new reader comes in while this
			// handle waits for the others to leave, and none while
			// it holds EXCLUSIVE. Only one handle holds PENDING.
			if d.pending {
				return sqlite3.BUSY
			}
			f.lock = vfs.LOCK_PENDING
			d.pending = true
		}
		if d.shared > 1 {
			return sqlite3.BUSY // PENDING kept, as os_unix.c keeps it
		}
	}
	f.lock = lock
	return nil
}

func (f *file) Unlock(lock vfs.LockLevel) error {
	if f.lock <= lock {
		return nil
	}
	if f.scratch {
		f.lock = lock
		return nil
	}
	d := f.d
	d.lockMtx.Lock()
	defer d.lockMtx.Unlock()
	if f.hasReserved {
		d.reserved = false
		f.hasReserved = false
	}
	if f.lock >= vfs.LOCK_PENDING {
		d.pending = false
	}
	if lock < vfs.LOCK_SHARED {
		d.shared--
	}
	f.lock = lock
	return nil
}

func (f *file) CheckReservedLock() (bool, error) {
	if f.lock >= vfs.LOCK_RESERVED {
		return true, nil
	}
	if f.scratch {
		return false, nil
	}
	f.d.lockMtx.Lock()
	defer f.d.lockMtx.Unlock()
	// Any lock above SHARED counts, as in os_unix.c: a handle that went
	// from SHARED straight to PENDING or EXCLUSIVE holds no RESERVED.
	return f.d.reserved || f.d.pending, nil
}

// spaceErr is sysErr for the calls that can run out of room: an error
// matching chunkmap.ErrNoSpace is SQLITE_FULL ("database or disk is
// full"), as SQLite's own VFS reports ENOSPC, and not a disk I/O error.
func spaceErr(err error, code sqlite3.ExtendedErrorCode) error {
	if errors.Is(err, chunkmap.ErrNoSpace) {
		return sysErr(err, sqlite3.FULL)
	}
	return sysErr(err, code)
}

// sysErr gives SQLite an error it can classify: chunkmap's error wrapped
// with the extended code.
func sysErr[T sqlite3.ErrorCode | sqlite3.ExtendedErrorCode](err error, code T) error {
	if err == nil {
		return nil
	}
	return vfs.SystemError(err, code)
}
