// Package vfs is the seam between chunkmap and the file system: every
// operation that changes what a dataset directory holds, or makes it
// durable, goes through an [FS], so that tests can record those operations
// (to build the disk as a power loss would leave it) or make them fail
// (fsync errors, a full disk).
//
// [OS] is the real file system. Memory mapping needs the operating system's
// file, so every [File] is backed by an *os.File, which [File.OS] returns;
// stores through a mapping bypass the seam, and a test that needs them reads
// the file back (fsync makes them durable together with everything else).
//
//	fsys := vfs.OS
//	f, err := fsys.OpenFile(filepath.Join(dir, "x"), os.O_RDWR|os.O_CREATE, 0o644)
//	if err != nil { ... }
//	_, err = f.WriteAt([]byte("hello"), 0)
//	err = f.Sync()                 // the file's bytes and size
//	err = fsys.SyncDir(dir)        // its name
//
// The methods have the semantics of their namesakes in package os, and
// return the same errors (*fs.PathError and friends).
package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
)

// FS is a file system.
type FS interface {
	// OpenFile opens name with the flags of os.OpenFile. Implementations
	// add O_NOFOLLOW and, for flags that could block on a FIFO or device,
	// O_NONBLOCK where the platform has them, and the returned File is
	// refused (with an error wrapping ErrNotRegular) unless it is a
	// regular file; so opening never blocks and never follows a symlink.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes the file name.
	Remove(name string) error
	// Rename renames oldname to newname, replacing newname atomically.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists dir.
	ReadDir(dir string) ([]fs.DirEntry, error)
	// Lstat describes name without following a symlink.
	Lstat(name string) (fs.FileInfo, error)
	// SyncDir makes the creation, renaming and removal of dir's entries
	// durable.
	SyncDir(dir string) error
	// BootID identifies the running boot of the machine: it differs after
	// every restart, so a page cache that survived (a process crash) can
	// be told from one that did not (a power loss). It is "" where the
	// platform cannot tell. Where the platform has no identity of its
	// own for a boot (or hides it: Linux without /proc), it is the time
	// the machine booted, which a change of the wall clock moves: a
	// change callers take for a restart, the safe side. An error says that
	// the identity could not be read this time (no descriptor was left,
	// say): a value made up instead would differ from the one the boot's
	// other processes, and this one's later calls, read.
	BootID() (string, error)
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Stat describes the open file.
	Stat() (fs.FileInfo, error)
	// Sync makes the file's bytes and size durable (fsync).
	Sync() error
	// Truncate sets the file's size; growing makes a hole.
	Truncate(size int64) error
	// Allocate makes sure the blocks of [off, off+n) are allocated on
	// disk, without changing the file's size or the bytes it holds, so
	// that a later store through a mapping cannot fail for lack of space.
	Allocate(off, n int64) error
	// OS returns the operating system's file, for mapping it. It stays
	// owned by the File.
	OS() *os.File
	// Name returns the path the file was opened with.
	Name() string
}

// AsideName returns a new name, ".chunkmap-removing-" and 16 random hex
// digits, for a directory set aside on its way out: its own name, which no
// other program uses, under which the directory is removed. Whatever a
// crash leaves under such a name may be deleted.
func AsideName() string {
	return fmt.Sprintf(".chunkmap-removing-%016x", rand.Uint64())
}
