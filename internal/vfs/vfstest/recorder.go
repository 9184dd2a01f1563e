//go:build unix

package vfstest

// This file holds the Recorder: the numbered log of the operations that
// change files or make them durable, and the crash images built from it.

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// Kind is the kind of a recorded [Step].
type Kind int

const (
	// KindCreate is an OpenFile with O_CREATE that created the file.
	KindCreate Kind = iota + 1
	// KindOpenCreate is an OpenFile with O_CREATE of a file that existed
	// already (with O_TRUNC it truncated it; a KindTruncate step follows).
	KindOpenCreate
	// KindWrite is a File.WriteAt that wrote at least one byte.
	KindWrite
	// KindTruncate is a File.Truncate.
	KindTruncate
	// KindAllocate is a File.Allocate.
	KindAllocate
	// KindRename is an FS.Rename.
	KindRename
	// KindRemove is an FS.Remove.
	KindRemove
	// KindMkdir is an FS.MkdirAll.
	KindMkdir
	// KindSync is a File.Sync: a durability event for one file.
	KindSync
	// KindSyncDir is an FS.SyncDir: a durability event for a directory's
	// names.
	KindSyncDir
)

var kindNames = [...]string{
	KindCreate:     "create",
	KindOpenCreate: "open-create",
	KindWrite:      "write",
	KindTruncate:   "truncate",
	KindAllocate:   "allocate",
	KindRename:     "rename",
	KindRemove:     "remove",
	KindMkdir:      "mkdir",
	KindSync:       "sync",
	KindSyncDir:    "syncdir",
}

// String returns the kind's name.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// FileID identifies a file (an inode), whatever names it has: the inode
// number, and a generation that the Recorder advances each time it sees a
// file created, because a file system reuses the number of a removed
// file's inode for a new one. Files the Recorder never saw created have
// generation 0. The zero FileID is no file (or not a regular one).
type FileID struct {
	Ino uint64
	Gen uint64
}

// String formats the ID as ino.gen.
func (id FileID) String() string { return fmt.Sprintf("%d.%d", id.Ino, id.Gen) }

// Step is one recorded operation. Only operations that succeeded are
// recorded.
type Step struct {
	// N is the step's number, from 1.
	N int
	// Kind is what the operation was.
	Kind Kind
	// Path is the file or directory the operation acted on, as the caller
	// named it (the old name of a rename).
	Path string
	// To is the new name of a rename.
	To string
	// ID is the file acted on; the zero FileID for directories and for
	// names that were not regular files.
	ID FileID
	// Off and Len are the range of a write or an allocation; Off is the
	// new size of a truncation.
	Off, Len int64
	// Data holds, for KindSync, the file's bytes read back right after the
	// fsync. It is owned by the Recorder and must not be modified.
	Data []byte
	// Entries holds, for KindSyncDir, the regular files in the directory
	// at the time, by name.
	Entries map[string]FileID
}

// String describes the step in one line, with base names only.
func (s Step) String() string {
	b := fmt.Sprintf("%d %v %s", s.N, s.Kind, filepath.Base(s.Path))
	switch s.Kind {
	case KindRename:
		b += " -> " + filepath.Base(s.To)
	case KindWrite, KindAllocate:
		b += fmt.Sprintf(" [%d, %d)", s.Off, s.Off+s.Len)
	case KindTruncate:
		b += fmt.Sprintf(" to %d", s.Off)
	case KindSync:
		b += fmt.Sprintf(" (%d bytes)", len(s.Data))
	case KindSyncDir:
		names := make([]string, 0, len(s.Entries))
		for n := range s.Entries {
			names = append(names, n)
		}
		slices.Sort(names)
		b += fmt.Sprintf(" %v", names)
	}
	if s.ID != (FileID{}) {
		b += " ino " + s.ID.String()
	}
	return b
}

// dirOp reports whether s changes the names of regular files in dir, which
// must be clean.
func (s *Step) dirOp(dir string) bool {
	switch s.Kind {
	case KindCreate, KindRemove:
		return s.ID != (FileID{}) && filepath.Dir(filepath.Clean(s.Path)) == dir
	case KindRename:
		return s.ID != (FileID{}) && (filepath.Dir(filepath.Clean(s.Path)) == dir || filepath.Dir(filepath.Clean(s.To)) == dir)
	}
	return false
}

// Recorder is a file system that passes every operation to another one
// and logs, as numbered steps, every operation that changes a file or a
// directory (creations, writes, truncations, allocations, renames,
// removals) and every durability event: at each File.Sync the file's bytes
// read back from the file at that moment, at each SyncDir the regular files
// the directory then names. From the log, [Recorder.Image] builds the
// directory as a power loss after any step would leave it.
//
// Stores through a memory mapping bypass the Recorder; they are in the page
// cache, so the bytes read back at an fsync include them, as the fsync
// itself would.
//
// A Recorder is safe for concurrent use by multiple goroutines, but the
// images are exact only for a single-threaded workload: the bytes read back
// after an fsync include stores that other goroutines made in between.
type Recorder struct {
	base vfs.FS
	boot string

	// NoSync, set before the first operation, keeps File.Sync and SyncDir
	// from reaching the base file system (they are still recorded): the
	// log, not the disk, decides what an image holds, so the real fsyncs
	// are only cost.
	NoSync bool

	// mu serialises recorded operations with their log entries, so that
	// the log's order is the order in which they happened.
	mu      sync.Mutex
	steps   []Step
	gens    map[uint64]uint64 // inode number -> generation
	nextGen uint64
}

// Assert that Recorder implements vfs.FS.
var _ vfs.FS = (*Recorder)(nil)

// NewRecorder returns a Recorder over base (nil means vfs.OS) whose
// BootID is bootID.
func NewRecorder(base vfs.FS, bootID string) *Recorder {
	if base == nil {
		base = vfs.OS
	}
	return &Recorder{base: base, boot: bootID, gens: make(map[uint64]uint64)}
}

// Steps returns the number of steps recorded so far: a cut after step
// Steps() is one after everything.
func (r *Recorder) Steps() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.steps)
}

// Step returns step n (from 1).
func (r *Recorder) Step(n int) Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.steps[n-1]
}

// Log returns a copy of steps [from, to] (numbered from 1), clamped to
// what was recorded.
func (r *Recorder) Log(from, to int) []Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	from = max(from, 1)
	to = min(to, len(r.steps))
	if from > to {
		return nil
	}
	return slices.Clone(r.steps[from-1 : to])
}

// record appends s to the log.
//
// REQUIRES: r.mu held.
func (r *Recorder) record(s Step) {
	s.N = len(r.steps) + 1
	r.steps = append(r.steps, s)
}

// idOf returns the FileID of the file fi describes, or the zero FileID
// if it is not a regular file.
//
// REQUIRES: r.mu held.
func (r *Recorder) idOf(fi fs.FileInfo) FileID {
	if fi == nil || !fi.Mode().IsRegular() {
		return FileID{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}
	}
	ino := uint64(st.Ino)
	return FileID{Ino: ino, Gen: r.gens[ino]}
}

// idOfName returns the FileID of the file under name, or the zero FileID.
//
// REQUIRES: r.mu held.
func (r *Recorder) idOfName(name string) FileID {
	fi, err := r.base.Lstat(name)
	if err != nil {
		return FileID{}
	}
	return r.idOf(fi)
}

// OpenFile is part of the vfs.FS interface. An open with O_CREATE is
// recorded (as KindCreate if it created the file).
func (r *Recorder) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if flag&os.O_CREATE == 0 {
		f, err := r.base.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return &recFile{r: r, f: f}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, statErr := r.base.Lstat(name)
	existed := statErr == nil
	f, err := r.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	kind := KindOpenCreate
	if !existed {
		kind = KindCreate
		if id := r.idOf(fi); id.Ino != 0 {
			r.nextGen++
			r.gens[id.Ino] = r.nextGen
		}
	}
	id := r.idOf(fi)
	r.record(Step{Kind: kind, Path: name, ID: id})
	if existed && flag&os.O_TRUNC != 0 {
		r.record(Step{Kind: KindTruncate, Path: name, ID: id})
	}
	return &recFile{r: r, f: f}, nil
}

// Remove is part of the vfs.FS interface.
func (r *Recorder) Remove(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.idOfName(name)
	if err := r.base.Remove(name); err != nil {
		return err
	}
	r.record(Step{Kind: KindRemove, Path: name, ID: id})
	return nil
}

// Rename is part of the vfs.FS interface.
func (r *Recorder) Rename(oldname, newname string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.idOfName(oldname)
	if err := r.base.Rename(oldname, newname); err != nil {
		return err
	}
	r.record(Step{Kind: KindRename, Path: oldname, To: newname, ID: id})
	return nil
}

// MkdirAll is part of the vfs.FS interface.
func (r *Recorder) MkdirAll(dir string, perm os.FileMode) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.base.MkdirAll(dir, perm); err != nil {
		return err
	}
	r.record(Step{Kind: KindMkdir, Path: dir})
	return nil
}

// ReadDir is part of the vfs.FS interface.
func (r *Recorder) ReadDir(dir string) ([]fs.DirEntry, error) { return r.base.ReadDir(dir) }

// Lstat is part of the vfs.FS interface.
func (r *Recorder) Lstat(name string) (fs.FileInfo, error) { return r.base.Lstat(name) }

// SyncDir is part of the vfs.FS interface. It records the regular files
// that dir names at that moment.
func (r *Recorder) SyncDir(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.NoSync {
		if err := r.base.SyncDir(dir); err != nil {
			return err
		}
	}
	ents, err := r.base.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("vfstest: record syncdir %s: %w", dir, err)
	}
	names := make(map[string]FileID, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if id := r.idOfName(filepath.Join(dir, e.Name())); id != (FileID{}) {
			names[e.Name()] = id
		}
	}
	r.record(Step{Kind: KindSyncDir, Path: dir, Entries: names})
	return nil
}

// BootID is part of the vfs.FS interface: it returns the ID given to
// NewRecorder.
func (r *Recorder) BootID() (string, error) { return r.boot, nil }

// recFile is a File of a Recorder.
type recFile struct {
	r *Recorder
	f vfs.File
}

// Assert that recFile implements vfs.File.
var _ vfs.File = (*recFile)(nil)

func (f *recFile) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }
func (f *recFile) Close() error                            { return f.f.Close() }
func (f *recFile) Stat() (fs.FileInfo, error)              { return f.f.Stat() }
func (f *recFile) OS() *os.File                            { return f.f.OS() }
func (f *recFile) Name() string                            { return f.f.Name() }

// id returns the FileID of the open file.
//
// REQUIRES: f.r.mu held.
func (f *recFile) id() FileID {
	fi, err := f.f.Stat()
	if err != nil {
		return FileID{}
	}
	return f.r.idOf(fi)
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	n, err := f.f.WriteAt(p, off)
	if n > 0 {
		f.r.record(Step{Kind: KindWrite, Path: f.f.Name(), ID: f.id(), Off: off, Len: int64(n)})
	}
	return n, err
}

func (f *recFile) Truncate(size int64) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if err := f.f.Truncate(size); err != nil {
		return err
	}
	f.r.record(Step{Kind: KindTruncate, Path: f.f.Name(), ID: f.id(), Off: size})
	return nil
}

func (f *recFile) Allocate(off, n int64) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if err := f.f.Allocate(off, n); err != nil {
		return err
	}
	f.r.record(Step{Kind: KindAllocate, Path: f.f.Name(), ID: f.id(), Off: off, Len: n})
	return nil
}

// Sync fsyncs the file (unless NoSync) and records its bytes.
func (f *recFile) Sync() error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if !f.r.NoSync {
		if err := f.f.Sync(); err != nil {
			return err
		}
	}
	data, err := readAll(f.f)
	if err != nil {
		return fmt.Errorf("vfstest: record sync of %s: %w", f.f.Name(), err)
	}
	f.r.record(Step{Kind: KindSync, Path: f.f.Name(), ID: f.id(), Data: data})
	return nil
}

// readAll returns the whole content of f, through a descriptor of its own
// if f was opened write-only.
func readAll(f vfs.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) && f.OS() != nil {
		// Write-only: /dev/fd reopens the same file, named or not.
		var g *os.File
		if g, err = os.Open(fmt.Sprintf("/dev/fd/%d", f.OS().Fd())); err == nil {
			n, err = g.ReadAt(b, 0)
			err = errors.Join(err, g.Close())
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// Cut is the point at which a simulated power loss strikes: after step
// After (0: before anything) and before the next one. What the disk keeps
// is every name the directory had at its last SyncDir at or before After
// and, in each file, the bytes of that file's last Sync at or before After
// (none, an empty file, if it was never synced).
//
// A file system may also write directory changes out before they are
// synced, in the order they were made (ext4 and XFS commit them in their
// journal in order): DirOps says how many of the directory's name changes
// (creations, renames, removals of regular files) made after that SyncDir,
// up to step After, reached the disk too. [Recorder.DirOps] gives the most
// a cut can have.
type Cut struct {
	After  int
	DirOps int
}

// DirOps returns how many name changes of regular files in dir were made
// after dir's last SyncDir at or before step k, up to step k: the largest
// valid Cut.DirOps for a cut after step k.
func (r *Recorder) DirOps(dir string, k int) int {
	r.mu.Lock()
	steps := r.steps[:min(max(k, 0), len(r.steps))]
	r.mu.Unlock()
	dir = filepath.Clean(dir)
	n := 0
	for i := len(steps) - 1; i >= 0; i-- {
		s := &steps[i]
		if s.Kind == KindSyncDir && filepath.Clean(s.Path) == dir {
			break
		}
		if s.dirOp(dir) {
			n++
		}
	}
	return n
}

// Image is the content of a directory after a simulated power loss.
type Image struct {
	// Dir is the directory the image is of, and Cut where the power loss
	// struck.
	Dir string
	Cut Cut
	// Files are the directory's regular files, by name.
	Files []ImageFile
}

// ImageFile is one file of an Image.
type ImageFile struct {
	// Name is the file's name in the directory.
	Name string
	// ID is the file it names.
	ID FileID
	// Synced is the step whose bytes the file has: its last Sync at or
	// before the cut, 0 if there was none.
	Synced int
	// Data are the file's bytes, empty if it was never synced. They are
	// owned by the Recorder and must not be modified.
	Data []byte
}

// Key returns a string that two images of the same directory share exactly
// when they hold the same names with the same bytes, so that a test can
// check each distinct image once.
func (im *Image) Key() string {
	var b strings.Builder
	for _, f := range im.Files {
		fmt.Fprintf(&b, "%s@%d/", f.Name, f.Synced)
	}
	return b.String()
}

// String lists the image's files with their sizes and the steps their
// bytes come from.
func (im *Image) String() string {
	parts := make([]string, len(im.Files))
	for i, f := range im.Files {
		from := "never synced"
		if f.Synced > 0 {
			from = fmt.Sprintf("synced at step %d", f.Synced)
		}
		parts[i] = fmt.Sprintf("%s (ino %v, %d bytes, %s)", f.Name, f.ID, len(f.Data), from)
	}
	return fmt.Sprintf("cut after step %d with %d unsynced name changes: [%s]", im.Cut.After, im.Cut.DirOps, strings.Join(parts, "; "))
}

// File returns the image's file called name, if it has one.
func (im *Image) File(name string) (ImageFile, bool) {
	i, ok := slices.BinarySearchFunc(im.Files, name, func(f ImageFile, name string) int { return cmp.Compare(f.Name, name) })
	if !ok {
		return ImageFile{}, false
	}
	return im.Files[i], true
}

// WriteDir writes the image's files into dst, which must exist (and is
// normally empty), with mode 0644.
func (im *Image) WriteDir(dst string) error {
	for _, f := range im.Files {
		if err := os.WriteFile(filepath.Join(dst, f.Name), f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Image returns the image of directory dir that a power loss at cut c
// leaves (see [Cut]). It fails if c lies past the recorded steps or asks
// for more name changes than [Recorder.DirOps] allows.
func (r *Recorder) Image(dir string, c Cut) (*Image, error) {
	r.mu.Lock()
	n := len(r.steps)
	steps := r.steps[:min(max(c.After, 0), n)]
	r.mu.Unlock()
	if c.After < 0 || c.After > n || c.DirOps < 0 {
		return nil, fmt.Errorf("vfstest: cut %+v outside the %d recorded steps", c, n)
	}
	dir = filepath.Clean(dir)
	synced := len(steps)
	for synced > 0 && !(steps[synced-1].Kind == KindSyncDir && filepath.Clean(steps[synced-1].Path) == dir) {
		synced--
	}
	names := make(map[string]FileID)
	if synced > 0 {
		for name, id := range steps[synced-1].Entries {
			names[name] = id
		}
	}
	applied := 0
	for i := synced; i < len(steps) && applied < c.DirOps; i++ {
		s := &steps[i]
		if !s.dirOp(dir) {
			continue
		}
		applied++
		switch s.Kind {
		case KindCreate:
			names[filepath.Base(s.Path)] = s.ID
		case KindRemove:
			delete(names, filepath.Base(s.Path))
		case KindRename:
			if filepath.Dir(filepath.Clean(s.Path)) == dir {
				delete(names, filepath.Base(s.Path))
			}
			if filepath.Dir(filepath.Clean(s.To)) == dir {
				names[filepath.Base(s.To)] = s.ID
			}
		}
	}
	if applied < c.DirOps {
		return nil, fmt.Errorf("vfstest: cut %+v: only %d name changes in %s since its last SyncDir", c, applied, dir)
	}
	im := &Image{Dir: dir, Cut: c}
	for name, id := range names {
		f := ImageFile{Name: name, ID: id}
		for i := len(steps) - 1; i >= 0; i-- {
			if s := &steps[i]; s.Kind == KindSync && s.ID == id {
				f.Synced, f.Data = s.N, s.Data
				break
			}
		}
		im.Files = append(im.Files, f)
	}
	slices.SortFunc(im.Files, func(a, b ImageFile) int { return cmp.Compare(a.Name, b.Name) })
	return im, nil
}

// Materialize writes the image of dir at cut c into dst (created if
// missing; it should be empty).
func (r *Recorder) Materialize(dir string, c Cut, dst string) error {
	im, err := r.Image(dir, c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return im.WriteDir(dst)
}
