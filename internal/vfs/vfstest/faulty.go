package vfstest

// This file holds Faulty, the file system that fails or skips operations
// by rule, and WithBootID.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// The operation names a [Rule] is matched against. File operations are
// matched with the path the file was opened with; Rename with its old name.
const (
	OpOpen     = "open"
	OpRemove   = "remove"
	OpRename   = "rename"
	OpMkdirAll = "mkdirall"
	OpReadDir  = "readdir"
	OpLstat    = "lstat"
	OpSyncDir  = "syncdir"
	OpRead     = "read"
	OpWrite    = "write"
	OpClose    = "close"
	OpStat     = "stat"
	OpSync     = "sync"
	OpTruncate = "truncate"
	OpAllocate = "allocate"
)

// ErrInjected is the error a failing [Rule] without an Err of its own
// injects.
var ErrInjected = errors.New("vfstest: injected fault")

// Mode is what a matching [Rule] does to the operation.
type Mode int

const (
	// Fail makes the operation fail with the rule's Err, wrapped in an
	// *fs.PathError naming the operation and the path, without doing
	// anything (a failing Close still closes the file).
	Fail Mode = iota
	// Skip makes the operation do nothing and report success: a Sync or
	// SyncDir that is not made (a removed fsync), a write that is lost.
	// It applies to operations whose only result is an error, and to
	// writes; a rule in this mode does not match other operations.
	Skip
	// SyncAfterRename makes a File.Sync do nothing and report success,
	// and performs it instead right after the next successful Rename of
	// the file's path, through a descriptor opened under the new name:
	// the bug of a rename published before the fsync that should precede
	// it. A rule in this mode matches only OpSync.
	SyncAfterRename
	// Panic makes a file's ReadAt or WriteAt panic, with the error a Fail
	// rule would return, without doing anything: a file system that
	// breaks its contract, for tests that the library puts back what it
	// holds while the panic unwinds. A rule in this mode matches only
	// OpRead and OpWrite. The library copes with it on the chunk files'
	// pread and pwrite only; a rule on the manifest, whose reads and
	// writes run under the Manager's locks, leaves those locks held.
	Panic
)

// Rule says which operations of a [Faulty] file system to fail or skip.
type Rule struct {
	// Match selects the operations, by name (the Op constants) and path;
	// nil selects every one. [OpOn] builds the common cases.
	Match func(op, path string) bool
	// Mode is what the rule does; the zero value fails.
	Mode Mode
	// Err is the error a Fail rule injects; nil means ErrInjected.
	Err error
	// Times is how often the rule fires at most; 0 means without limit.
	Times int

	fired int // guarded by the Faulty's mu
}

// OpOn returns a Match function selecting operation op ("" for any) on
// paths whose base name matches pattern (a filepath.Match pattern; "" for
// any path).
func OpOn(op, pattern string) func(op, path string) bool {
	return func(o, path string) bool {
		if op != "" && o != op {
			return false
		}
		if pattern == "" {
			return true
		}
		ok, _ := filepath.Match(pattern, filepath.Base(path))
		return ok
	}
}

// Faulty is a file system that passes operations to another one, except
// those a [Rule] selects, which it fails or skips. The first rule (in the
// order they were added) that matches an operation and has not used up its
// Times decides it. A Faulty is safe for concurrent use by multiple
// goroutines.
type Faulty struct {
	base vfs.FS

	mu       sync.Mutex
	rules    []*Rule
	deferred map[string]bool // paths whose Sync waits for their Rename
}

// Assert that Faulty implements vfs.FS.
var _ vfs.FS = (*Faulty)(nil)

// NewFaulty returns a Faulty over base (nil means vfs.OS), without rules.
func NewFaulty(base vfs.FS) *Faulty {
	if base == nil {
		base = vfs.OS
	}
	return &Faulty{base: base, deferred: make(map[string]bool)}
}

// Add adds rule r, after the rules already there, and returns it for
// Fired and Disarm.
func (f *Faulty) Add(r Rule) *Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &r
	p.fired = 0
	f.rules = append(f.rules, p)
	return p
}

// Disarm removes rule r.
func (f *Faulty) Disarm(r *Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, q := range f.rules {
		if q == r {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
			return
		}
	}
}

// Fired returns how many times rule r has fired.
func (f *Faulty) Fired(r *Rule) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return r.fired
}

// skippable lists the operations a Skip rule applies to.
var skippable = map[string]bool{
	OpRemove: true, OpRename: true, OpMkdirAll: true, OpSyncDir: true,
	OpWrite: true, OpSync: true, OpTruncate: true, OpAllocate: true,
}

// check returns the rule that decides operation op on path, counting it
// as fired, or nil if none does.
func (f *Faulty) check(op, path string) *Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		switch {
		case r.Times > 0 && r.fired >= r.Times:
		case r.Mode == Skip && !skippable[op]:
		case r.Mode == SyncAfterRename && op != OpSync:
		case r.Mode == Panic && op != OpRead && op != OpWrite:
		case r.Match != nil && !r.Match(op, path):
		default:
			r.fired++
			return r
		}
	}
	return nil
}

// inject returns the error of Fail rule r for op on path.
func inject(r *Rule, op, path string) error {
	err := r.Err
	if err == nil {
		err = ErrInjected
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// errOnly runs an operation whose only result is an error, unless a rule
// fails or skips it.
func (f *Faulty) errOnly(op, path string, do func() error) error {
	if r := f.check(op, path); r != nil {
		if r.Mode == Fail {
			return inject(r, op, path)
		}
		return nil
	}
	return do()
}

// OpenFile is part of the vfs.FS interface.
func (f *Faulty) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if r := f.check(OpOpen, name); r != nil {
		return nil, inject(r, OpOpen, name)
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{fs: f, f: file}, nil
}

// Remove is part of the vfs.FS interface.
func (f *Faulty) Remove(name string) error {
	return f.errOnly(OpRemove, name, func() error { return f.base.Remove(name) })
}

// Rename is part of the vfs.FS interface. A Sync of oldname that a
// SyncAfterRename rule held back is made after it.
func (f *Faulty) Rename(oldname, newname string) error {
	err := f.errOnly(OpRename, oldname, func() error { return f.base.Rename(oldname, newname) })
	if err != nil {
		return err
	}
	f.mu.Lock()
	late := f.deferred[oldname]
	delete(f.deferred, oldname)
	f.mu.Unlock()
	if !late {
		return nil
	}
	file, err := f.base.OpenFile(newname, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	return errors.Join(file.Sync(), file.Close())
}

// MkdirAll is part of the vfs.FS interface.
func (f *Faulty) MkdirAll(dir string, perm os.FileMode) error {
	return f.errOnly(OpMkdirAll, dir, func() error { return f.base.MkdirAll(dir, perm) })
}

// ReadDir is part of the vfs.FS interface.
func (f *Faulty) ReadDir(dir string) ([]fs.DirEntry, error) {
	if r := f.check(OpReadDir, dir); r != nil {
		return nil, inject(r, OpReadDir, dir)
	}
	return f.base.ReadDir(dir)
}

// Lstat is part of the vfs.FS interface.
func (f *Faulty) Lstat(name string) (fs.FileInfo, error) {
	if r := f.check(OpLstat, name); r != nil {
		return nil, inject(r, OpLstat, name)
	}
	return f.base.Lstat(name)
}

// SyncDir is part of the vfs.FS interface.
func (f *Faulty) SyncDir(dir string) error {
	return f.errOnly(OpSyncDir, dir, func() error { return f.base.SyncDir(dir) })
}

// BootID is part of the vfs.FS interface: the base's.
func (f *Faulty) BootID() (string, error) { return f.base.BootID() }

// faultyFile is a File of a Faulty.
type faultyFile struct {
	fs *Faulty
	f  vfs.File
}

// Assert that faultyFile implements vfs.File.
var _ vfs.File = (*faultyFile)(nil)

func (f *faultyFile) OS() *os.File { return f.f.OS() }
func (f *faultyFile) Name() string { return f.f.Name() }
func (f *faultyFile) path() string { return f.f.Name() }

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if r := f.fs.check(OpRead, f.path()); r != nil {
		if r.Mode == Panic {
			panic(inject(r, OpRead, f.path()))
		}
		return 0, inject(r, OpRead, f.path())
	}
	return f.f.ReadAt(p, off)
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if r := f.fs.check(OpWrite, f.path()); r != nil {
		switch r.Mode {
		case Fail:
			return 0, inject(r, OpWrite, f.path())
		case Panic:
			panic(inject(r, OpWrite, f.path()))
		}
		return len(p), nil
	}
	return f.f.WriteAt(p, off)
}

func (f *faultyFile) Close() error {
	if r := f.fs.check(OpClose, f.path()); r != nil {
		return errors.Join(inject(r, OpClose, f.path()), f.f.Close())
	}
	return f.f.Close()
}

func (f *faultyFile) Stat() (fs.FileInfo, error) {
	if r := f.fs.check(OpStat, f.path()); r != nil {
		return nil, inject(r, OpStat, f.path())
	}
	return f.f.Stat()
}

func (f *faultyFile) Sync() error {
	r := f.fs.check(OpSync, f.path())
	if r == nil {
		return f.f.Sync()
	}
	switch r.Mode {
	case Fail:
		return inject(r, OpSync, f.path())
	case SyncAfterRename:
		f.fs.mu.Lock()
		f.fs.deferred[f.path()] = true
		f.fs.mu.Unlock()
	}
	return nil
}

func (f *faultyFile) Truncate(size int64) error {
	return f.fs.errOnly(OpTruncate, f.path(), func() error { return f.f.Truncate(size) })
}

func (f *faultyFile) Allocate(off, n int64) error {
	return f.fs.errOnly(OpAllocate, f.path(), func() error { return f.f.Allocate(off, n) })
}

// WithBootID returns base with its BootID replaced by id: opening a crash
// image through it with an id other than the one it was recorded under
// looks like opening it after a restart.
func WithBootID(base vfs.FS, id string) vfs.FS { return bootFS{base, id} }

// bootFS is base with another BootID.
type bootFS struct {
	vfs.FS
	id string
}

func (b bootFS) BootID() (string, error) { return b.id, nil }
