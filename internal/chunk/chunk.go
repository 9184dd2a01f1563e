// Package chunk manages one chunk file of a chunkmap dataset: a file of a
// fixed size, created crash-safely, and its memory mapping.
//
// A chunk knows nothing of the dataset it belongs to; the root package
// chunkmap decides which chunks exist, which stay mapped and when they are
// synced.
//
//	f, err := chunk.Create(vfs.OS, dir, 7, 64<<10, 0o644) // dir/0000000000000007.chunk, 64 KiB of zeros
//	if err != nil { ... }
//	if err := f.Map(chunk.ReadWrite); err != nil { ... }
//	copy(f.Bytes()[100:], "hello")
//	err = f.Sync()   // msync (where fsync alone is not enough), then fsync
//	err = f.Close()  // unmaps and closes the file
//
// Errors are *[fs.PathError] values whose Op is one of create, open, map,
// unmap, sync, advise, allocate, fill, zero, read, write or stat, and whose Err is the
// operating system's error, [fs.ErrClosed], [errors.ErrUnsupported] or
// [ErrSize].
package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	mmap "github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// Mode says how a chunk is opened and mapped.
type Mode int

const (
	// ReadOnly maps a chunk for reading only; a store to it faults.
	ReadOnly Mode = iota
	// ReadWrite maps a chunk shared and writable: stores reach the file
	// through the page cache.
	ReadWrite
)

// Advice is an access-pattern hint for a chunk's file (posix_fadvise(2)).
type Advice int

const (
	// Normal is the kernel's default read-ahead.
	Normal Advice = iota
	// Sequential asks for aggressive read-ahead and early reclaim.
	Sequential
	// Random turns read-ahead off.
	Random
	// WillNeed asks the kernel to read the chunk in ahead of use.
	WillNeed
	// DontNeed lets the kernel drop the file's clean pages from the page
	// cache; the data stays in the file.
	DontNeed
)

// ErrSize is the Err of the *fs.PathError that [Open] returns when what is
// under a chunk file's name is not a chunk file: a file that does not have
// the size the caller expects, or not a regular file at all. The message
// goes on with which of the two it is.
var ErrSize = errors.New("not a chunk file")

// ErrReplaced is the Err of the *fs.PathError that [SameFile] returns when
// another file stands under a chunk's name.
var ErrReplaced = errors.New("another file stands under the name")

// File is one chunk file and, while mapped, its mapping.
//
// A File is not safe for concurrent use: its owner serialises Map, Unmap,
// Sync, Fadvise, Zero and Close. Bytes may be read and written
// concurrently by many goroutines while the File is mapped. ReadAt and
// WriteAt may run in parallel with each other and with access through Bytes.
type File struct {
	f     vfs.File
	path  string
	index int64
	size  int64
	mode  Mode
	info  fs.FileInfo // the file's identity when it was opened or created
	fd    int         // the descriptor writeOS and fdLen use (the handle, on Windows), or -1

	// m is the mapping as mmap-go returned it. Unmap must get this exact
	// slice: x/sys rejects a sub-slice (mmapper checks len == cap).
	m mmap.MMap
}

// Create makes chunk index in dir: a file of size bytes that reads as zeros,
// sparse (no block is allocated until [File.Allocate] or a write), and
// returns it open read-write and unmapped. It creates the file under its
// final name and syncs nothing: a crash may leave the file missing, empty
// or short, which is why the caller records a Size that needs the chunk
// only after Create returned, and makes the file and its name durable (with
// [File.Sync] and fsys.SyncDir) before a manifest that needs them. A file
// already under the name is an error (fs.ErrExist): Create never reuses or
// clobbers one.
func Create(fsys vfs.FS, dir string, index int64, size int64, perm os.FileMode) (*File, error) {
	final := filepath.Join(dir, Name(index))
	pathErr := func(err error) error { return &fs.PathError{Op: "create", Path: final, Err: err} }
	if size <= 0 {
		return nil, pathErr(fmt.Errorf("size %d is not positive: %w", size, ErrSize))
	}
	f, err := fsys.OpenFile(final, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, unwrapPath(err, "create", final)
	}
	// The file's own errors name its path already (an *fs.PathError):
	// unwrapPath names it once, with the operation that failed.
	if err := f.Truncate(size); err != nil {
		return nil, errors.Join(unwrapPath(err, "truncate", final), f.Close(), fsys.Remove(final))
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(unwrapPath(err, "stat", final), f.Close(), fsys.Remove(final))
	}
	// This descriptor may write a file of any mode, but every later open
	// of it (a mapping after an eviction, Sync's fsync, the next writer's)
	// is by name, for reading and writing, which the system may refuse
	// where perm (or the umask) left out the owner's read or write bit. A
	// file no writer may open again would make every Sync fail for good:
	// the growth fails now instead. Whether the system refuses is its to
	// say (root, or a process allowed to override file permissions, may
	// open it; on Windows a file without the write bit is read-only for
	// everyone), so the file is opened again here, in that case only.
	if m := fi.Mode().Perm(); m&0o600 != 0o600 {
		g, err := fsys.OpenFile(final, os.O_RDWR, 0)
		if err == nil {
			err = g.Close()
		} else if errors.Is(err, fs.ErrPermission) {
			err = pathErr(fmt.Errorf("mode %#o leaves its owner no read and write permission, so it could not be opened again: %w", m, fs.ErrPermission))
		} else {
			err = unwrapPath(err, "open", final)
		}
		if err != nil {
			return nil, errors.Join(err, f.Close(), fsys.Remove(final))
		}
	}
	return &File{f: f, path: final, index: index, size: size, mode: ReadWrite, info: fi, fd: fdOf(f)}, nil
}

// unwrapPath returns err as an *fs.PathError with op and path, without
// nesting one PathError in another (which would print the path twice).
func unwrapPath(err error, op, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: path, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// Open opens the existing chunk index in dir in the given mode and checks
// that it is a regular file of exactly size bytes; anything else is
// reported with [ErrSize]. Opening never blocks, whatever is under the name
// (see [vfs.FS.OpenFile]). The file is returned unmapped.
func Open(fsys vfs.FS, dir string, index int64, size int64, mode Mode) (*File, error) {
	path := filepath.Join(dir, Name(index))
	flag := os.O_RDONLY
	if mode == ReadWrite {
		flag = os.O_RDWR
	}
	f, err := fsys.OpenFile(path, flag, 0)
	if errors.Is(err, vfs.ErrNotRegular) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %w", ErrSize, vfs.ErrNotRegular)}
	}
	if err != nil {
		return nil, unwrapPath(err, "open", path)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(&fs.PathError{Op: "open", Path: path, Err: err}, f.Close())
	}
	if fi.Size() != size {
		err := fmt.Errorf("%w: %d bytes, want %d", ErrSize, fi.Size(), size)
		return nil, errors.Join(&fs.PathError{Op: "open", Path: path, Err: err}, f.Close())
	}
	return &File{f: f, path: path, index: index, size: size, mode: mode, info: fi, fd: fdOf(f)}, nil
}

// Allocate makes sure the blocks of [off, off+n) of the chunk are allocated,
// so that stores through a mapping there cannot fault for lack of space
// (they would raise SIGBUS). It changes no byte. A full disk is reported
// here. Where the platform or file system cannot allocate a range without
// writing it, the error wraps errors.ErrUnsupported.
func (c *File) Allocate(off, n int64) error {
	if c.f == nil {
		return c.err("allocate", fs.ErrClosed)
	}
	if off < 0 || n < 0 || off > c.size || n > c.size-off {
		return c.err("allocate", fmt.Errorf("%d bytes at offset %d: %w", n, off, ErrSize))
	}
	if err := c.f.Allocate(off, n); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return c.err("allocate", err)
	}
	return nil
}

// Fill writes zeros over the whole chunk with pwrite, which allocates every
// block: for a freshly created chunk on a file system that cannot
// [File.Allocate], before anyone else can use it.
func (c *File) Fill() error {
	if c.f == nil {
		return c.err("fill", fs.ErrClosed)
	}
	if err := zeroWrite(c.f.OS(), 0, c.size); err != nil {
		return c.err("fill", err)
	}
	return nil
}

// OS returns the open file, for mapping it elsewhere (package arena). It
// stays owned by the File: it must not be closed, and is valid until Close.
func (c *File) OS() *os.File { return c.f.OS() }

// Path returns the file's path.
func (c *File) Path() string { return c.path }

// Info returns what Stat said of the file when it was opened or created:
// its identity, for [SameFile], which tells whether the chunk's name still
// leads to this file.
func (c *File) Info() fs.FileInfo { return c.info }

// SameFile reports an error unless the file under path is the file that
// info describes: an error wrapping fs.ErrNotExist if none is, one wrapping
// ErrReplaced if another is, or the error of the Lstat. Otherwise it
// returns what the Lstat said of the file now (its size, say).
func SameFile(fsys vfs.FS, path string, info fs.FileInfo) (fs.FileInfo, error) {
	onDisk, err := fsys.Lstat(path)
	switch {
	case err != nil:
		return nil, err
	case !os.SameFile(onDisk, info):
		return nil, &fs.PathError{Op: "lstat", Path: path, Err: ErrReplaced}
	}
	return onDisk, nil
}

// Index returns the chunk's index.
func (c *File) Index() int64 { return c.index }

// Size returns the chunk's size in bytes.
func (c *File) Size() int64 { return c.size }

// Mapped reports whether the chunk is mapped and its bytes are accessible.
func (c *File) Mapped() bool { return c.m != nil }

// Map maps the whole chunk, shared, in the given mode. ReadWrite needs a File
// opened ReadWrite. Mapping a mapped File is an error.
func (c *File) Map(mode Mode) error {
	if c.f == nil {
		return c.err("map", fs.ErrClosed)
	}
	if c.m != nil {
		return c.err("map", errors.New("already mapped"))
	}
	if int64(int(c.size)) != c.size {
		return c.err("map", fmt.Errorf("size %d does not fit in this platform's address space", c.size))
	}
	prot := mmap.RDONLY
	if mode == ReadWrite {
		if c.mode != ReadWrite {
			return c.err("map", fs.ErrPermission)
		}
		prot = mmap.RDWR
	}
	m, err := mmap.MapRegion(c.f.OS(), int(c.size), prot, 0, 0)
	if err != nil {
		return c.err("map", err)
	}
	c.m = m
	return nil
}

// Bytes returns the mapped chunk. The slice is owned by the File: it is
// valid until Unmap or Close, and must not be used after them (on
// Unix an access then faults; without a fault guard that kills the process).
// It is nil while the File is not mapped.
func (c *File) Bytes() []byte {
	if !c.Mapped() {
		return nil
	}
	return c.m
}

// Unmap removes the mapping. Unmapping a File that is not
// mapped does nothing. Unmap does not make stores durable; call Sync first
// (on Windows mmap-go's Unmap flushes and fsyncs a writable view itself).
func (c *File) Unmap() error {
	if c.m == nil {
		return nil
	}
	err := c.m.Unmap()
	c.m = nil
	if err != nil {
		return c.err("unmap", err)
	}
	return nil
}

// Sync makes every store to the chunk durable: the mapping is flushed
// (msync) if it is mapped, except on Linux where the fsync that follows
// covers it, then the file is fsync'd. Stores through a mapping that was
// unmapped since are in the page cache and are covered by the
// fsync.
func (c *File) Sync() error {
	if c.f == nil {
		return c.err("sync", fs.ErrClosed)
	}
	if c.Mapped() && c.mode == ReadWrite {
		if err := c.flushMapping(); err != nil {
			return c.err("sync", err)
		}
	}
	if err := c.f.Sync(); err != nil {
		return c.err("sync", err)
	}
	return nil
}

// Fadvise passes an access-pattern hint for bytes [off, off+n) of the file
// (n 0 means to the end) to the page cache, for reads and writes through
// the file rather than a mapping. WillNeed reads in all of a range of
// n > 0 bytes, with as many calls as that takes on Linux; with n 0 it is
// one call, which reads in the first read-ahead window from off. Where
// the platform has no posix_fadvise it does nothing and returns nil.
func (c *File) Fadvise(off, n int64, a Advice) error {
	if c.f == nil {
		return c.err("advise", fs.ErrClosed)
	}
	if err := fadvise(c, off, n, a); err != nil {
		return c.err("advise", err)
	}
	return nil
}

// ReadAt reads from the file with pread, not through the mapping. It
// implements [io.ReaderAt] over the chunk's bytes. Reads see stores made
// through a shared mapping on platforms with a unified page cache (Linux,
// the BSDs, macOS, Windows).
func (c *File) ReadAt(p []byte, off int64) (int, error) {
	if c.f == nil {
		return 0, c.err("read", fs.ErrClosed)
	}
	if osf, ok := c.f.(vfs.OSFile); ok {
		return c.readOS(osf.File, p, off)
	}
	// Through the interface p would escape, and every caller's buffer
	// would be allocated on the heap: an FS other than vfs.OS (a test's)
	// gets a copy.
	buf := make([]byte, len(p))
	n, err := c.f.ReadAt(buf, off)
	copy(p, buf[:n])
	return n, err
}

// WriteAt writes to the file with pwrite, not through the mapping. Writes
// past the chunk's size are refused, so the file never grows.
func (c *File) WriteAt(p []byte, off int64) (int, error) {
	if c.f == nil {
		return 0, c.err("write", fs.ErrClosed)
	}
	if off < 0 || off > c.size || int64(len(p)) > c.size-off {
		return 0, c.err("write", fmt.Errorf("%d bytes at offset %d: %w", len(p), off, ErrSize))
	}
	if osf, ok := c.f.(vfs.OSFile); ok {
		return c.writeOS(osf.File, p, off)
	}
	return c.f.WriteAt(bytes.Clone(p), off) // see ReadAt
}

// Zero sets bytes [off, off+n) of the chunk to zero, keeping them allocated.
// Mappings of the file see the zeros.
func (c *File) Zero(off, n int64) error { return c.zeroWith("zero", zeroRange, off, n) }

// Discard sets bytes [off, off+n) of the chunk to zero and gives back the
// disk blocks of its whole pages, which become a hole; mappings of the file
// see the zeros. Where the file system cannot punch holes it returns an
// error matching errors.ErrUnsupported and changes nothing: [File.Zero]
// zeroes the bytes instead. A store through a mapping into a hole needs a
// block again, and faults on a full disk: Discard is for bytes that no
// store through a mapping reaches until they are allocated again.
func (c *File) Discard(off, n int64) error { return c.zeroWith("discard", discardRange, off, n) }

// zeroWith is Zero (op "zero") or Discard ("discard"): it checks the
// range and the file's size, then runs zero on the open file.
func (c *File) zeroWith(op string, zero func(f *os.File, off, n int64) error, off, n int64) error {
	if c.f == nil {
		return c.err(op, fs.ErrClosed)
	}
	if off < 0 || n < 0 || off > c.size || n > c.size-off {
		return c.err(op, fmt.Errorf("%d bytes at offset %d: %w", n, off, ErrSize))
	}
	if n == 0 {
		return nil
	}
	// Zeros written past the end of a file that another program cut
	// would grow it again, to an odd size that hides the damage: refuse,
	// as a Manager's pwrite does. (Not atomic with the zeroing, which
	// keeps the window that small.)
	if got, err := c.Len(); err != nil {
		return err
	} else if got != c.size {
		return c.err(op, fmt.Errorf("%w: %d bytes, want %d", ErrSize, got, c.size))
	}
	if err := zero(c.f.OS(), off, n); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // a pwrite's: the path is named once, here
			err = pe.Err
		}
		return c.err(op, err)
	}
	return nil
}

// Stat returns the FileInfo of the open file. It describes this file even
// after its name was removed or given to another file, so [os.SameFile]
// tells whether the file under Path is still this one.
func (c *File) Stat() (fs.FileInfo, error) {
	if c.f == nil {
		return nil, c.err("stat", fs.ErrClosed)
	}
	return c.f.Stat()
}

// Len returns the size the open file has now. Where the File has an
// operating system descriptor it asks fstat directly, which allocates
// nothing (os.File.Stat allocates a FileInfo for every call): a pwrite
// checks the size of its file before each write (see the Manager's
// chunkFileIO).
func (c *File) Len() (int64, error) {
	if c.f == nil {
		return 0, c.err("stat", fs.ErrClosed)
	}
	size, ok, err := c.fdLen()
	if !ok {
		var fi fs.FileInfo
		if fi, err = c.f.Stat(); err == nil {
			size = fi.Size()
		}
	}
	if err != nil {
		return 0, c.err("stat", err)
	}
	return size, nil
}

// Close unmaps the chunk if it is mapped and closes the file. It does not
// sync. Calling Close twice returns an error wrapping [fs.ErrClosed].
func (c *File) Close() error {
	if c.f == nil {
		return c.err("close", fs.ErrClosed)
	}
	err := c.Unmap()
	err = errors.Join(err, c.f.Close())
	c.f = nil
	return err
}

// fdOf returns the descriptor of f for writeOS and fdLen, or -1.
func fdOf(f vfs.File) int {
	if osf, ok := f.(vfs.OSFile); ok {
		return osFd(osf.File)
	}
	return -1
}

func (c *File) err(op string, err error) error {
	// The file's own errors (os.File's Sync and WriteAt) name it already:
	// the path is said once, with the operation of this File.
	if pe, ok := err.(*fs.PathError); ok {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: c.path, Err: err}
}

// zeroWrite writes zeros over [off, off+n) with pwrite: the portable way to
// zero a range while keeping it allocated.
func zeroWrite(f *os.File, off, n int64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		w := min(n, int64(len(buf)))
		if _, err := f.WriteAt(buf[:w], off); err != nil {
			return err
		}
		off += w
		n -= w
	}
	return nil
}
