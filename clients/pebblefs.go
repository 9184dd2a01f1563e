package clients

// PebbleFS: a vfs.FS of github.com/cockroachdb/pebble whose every regular
// file is a chunkmap dataset, as a log-structured store would keep its
// write-ahead logs, tables and manifests on chunkmap.
//
// Lock rules: PebbleFS.mu guards rw. acquire holds it while it opens a
// read-write Manager, so that two handles never open one dataset twice;
// release takes a Manager out of rw under it and closes it after. No other
// call into chunkmap is made under it. pebbleFile.mu guards the handle's
// position and closed flag.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// PebbleStats counts what pebble asked of a PebbleFS.
type PebbleStats struct {
	OpenRW, OpenRO, Closes   atomic.Int64
	Removes, Renames, Reuses atomic.Int64
	Appends, WriteAts, Syncs atomic.Int64
}

// PebbleFS is a pebble vfs.FS whose every regular file is a chunkmap
// dataset: the file's path is the dataset's directory. Directories are
// directories; one that holds a regular file named chunkmap.ManifestName
// is a dataset, and is listed and stat'ed as a file (pebble's own
// manifests are MANIFEST-NNNNNN, never MANIFEST).
//
// Every write handle of a path (Create, OpenReadWrite, ReuseForWrite)
// shares one read-write Manager, counted by reference, since a dataset has
// one writer; a read handle shares it while it is open, and otherwise opens
// a ReadOnly Manager of its own. A handle keeps a position: a Write at the
// end of the file is an Append (checked to land there), any other a
// WriteAt. Sync, SyncData and SyncTo are Manager.Sync; Preallocate is Grow;
// Prefetch is Advise(AdviceWillNeed). Remove and Rename of a dataset are
// chunkmap.Remove and chunkmap.Rename, which are crash-safe, and refuse a
// path that a write handle holds open. Link is not supported (pebble uses
// it only for checkpoints and external ingestion). Lock is vfs.Default's
// (flock on a file of its own).
type PebbleFS struct {
	// Opts is the template of every dataset's Options (ReadOnly is set
	// per handle).
	Opts  chunkmap.Options
	Stats PebbleStats

	mu sync.Mutex
	rw map[string]*pebbleShared // open read-write Managers by absolute path
}

// pebbleShared is a read-write Manager and the number of handles that
// hold it.
type pebbleShared struct {
	m    *chunkmap.Manager
	refs int
}

var _ vfs.FS = (*PebbleFS)(nil)

// abs is name made absolute, the key of rw.
func abs(name string) string {
	p, err := filepath.Abs(name)
	if err != nil {
		return filepath.Clean(name)
	}
	return p
}

// isDataset reports whether path is a dataset's directory.
func isDataset(path string) bool {
	st, err := os.Lstat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	mf, err := os.Lstat(filepath.Join(path, chunkmap.ManifestName))
	return err == nil && mf.Mode().IsRegular()
}

func (f *PebbleFS) opts(readOnly bool) *chunkmap.Options {
	o := f.Opts
	o.ReadOnly = readOnly
	return &o
}

// OpenWriters returns how many read-write Managers f holds open.
func (f *PebbleFS) OpenWriters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rw)
}

// acquire returns the read-write Manager of path, opening (and creating)
// it if no handle holds it.
func (f *PebbleFS) acquire(path string) (*pebbleShared, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.rw[path]; ok {
		s.refs++
		return s, nil
	}
	if st, err := os.Lstat(path); err == nil && !st.IsDir() {
		return nil, &os.PathError{Op: "open", Path: path, Err: errors.New("clients: a plain file, not a dataset")}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	m, err := chunkmap.Open(path, f.opts(false))
	if err != nil {
		return nil, err
	}
	f.Stats.OpenRW.Add(1)
	if f.rw == nil {
		f.rw = make(map[string]*pebbleShared)
	}
	s := &pebbleShared{m: m, refs: 1}
	f.rw[path] = s
	return s, nil
}

// release lets go of one handle's hold of s, closing the Manager with the
// last.
func (f *PebbleFS) release(path string, s *pebbleShared) error {
	f.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(f.rw, path)
	}
	f.mu.Unlock()
	if !last {
		return nil
	}
	f.Stats.Closes.Add(1)
	return s.m.Close()
}

// writing reports whether a write handle holds path.
func (f *PebbleFS) writing(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.rw[path]
	return ok
}

var errWriting = errors.New("clients: the file is open for writing")

// Create implements vfs.FS: an empty dataset, replacing one at name.
func (f *PebbleFS) Create(name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	path := abs(name)
	if f.writing(path) {
		return nil, &os.PathError{Op: "create", Path: path, Err: errWriting}
	}
	if isDataset(path) {
		if err := chunkmap.Remove(path); err != nil {
			return nil, err
		}
	}
	s, err := f.acquire(path)
	if err != nil {
		return nil, err
	}
	return &pebbleFile{fs: f, path: path, m: s.m, shared: s, writable: true}, nil
}

// Link implements vfs.FS: not supported.
func (f *PebbleFS) Link(oldname, newname string) error {
	return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errors.ErrUnsupported}
}

// Open implements vfs.FS: a read handle.
func (f *PebbleFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	path := abs(name)
	var h *pebbleFile
	f.mu.Lock()
	if s, ok := f.rw[path]; ok {
		s.refs++
		h = &pebbleFile{fs: f, path: path, m: s.m, shared: s}
	}
	f.mu.Unlock()
	if h == nil {
		st, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return nil, &os.PathError{Op: "open", Path: path, Err: errors.New("clients: a plain file, not a dataset")}
		}
		m, err := chunkmap.Open(path, f.opts(true))
		if err != nil {
			return nil, err
		}
		f.Stats.OpenRO.Add(1)
		h = &pebbleFile{fs: f, path: path, m: m}
	}
	for _, o := range opts {
		o.Apply(h)
	}
	return h, nil
}

// OpenReadWrite implements vfs.FS.
func (f *PebbleFS) OpenReadWrite(name string, _ vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	path := abs(name)
	s, err := f.acquire(path)
	if err != nil {
		return nil, err
	}
	h := &pebbleFile{fs: f, path: path, m: s.m, shared: s, writable: true}
	for _, o := range opts {
		o.Apply(h)
	}
	return h, nil
}

// OpenDir implements vfs.FS: directories are the system's.
func (f *PebbleFS) OpenDir(name string) (vfs.File, error) {
	if isDataset(abs(name)) {
		return nil, &os.PathError{Op: "opendir", Path: name, Err: errors.New("clients: a dataset, not a directory")}
	}
	return vfs.Default.OpenDir(name)
}

// Remove implements vfs.FS.
func (f *PebbleFS) Remove(name string) error {
	path := abs(name)
	if f.writing(path) {
		return &os.PathError{Op: "remove", Path: path, Err: errWriting}
	}
	if isDataset(path) {
		f.Stats.Removes.Add(1)
		return chunkmap.Remove(path)
	}
	return os.Remove(path)
}

// RemoveAll implements vfs.FS.
func (f *PebbleFS) RemoveAll(name string) error { return os.RemoveAll(name) }

// Rename implements vfs.FS.
func (f *PebbleFS) Rename(oldname, newname string) error {
	from, to := abs(oldname), abs(newname)
	if f.writing(from) || f.writing(to) {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: errWriting}
	}
	if isDataset(from) {
		f.Stats.Renames.Add(1)
		return chunkmap.Rename(from, to)
	}
	return os.Rename(from, to)
}

// ReuseForWrite implements vfs.FS: the file renamed, then opened to write.
func (f *PebbleFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f.Stats.Reuses.Add(1)
	if err := f.Rename(oldname, newname); err != nil {
		return nil, err
	}
	return f.OpenReadWrite(newname, cat)
}

// MkdirAll implements vfs.FS.
func (f *PebbleFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// Lock implements vfs.FS.
func (f *PebbleFS) Lock(name string) (io.Closer, error) { return vfs.Default.Lock(name) }

// List implements vfs.FS: a dataset is one name; what chunkmap.Remove and
// chunkmap.Rename set aside (".chunkmap-…") is left out.
func (f *PebbleFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".chunkmap-") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Stat implements vfs.FS: a dataset's size is its Size, through the open
// writer or a ReadOnly Manager opened for the purpose.
func (f *PebbleFS) Stat(name string) (vfs.FileInfo, error) {
	path := abs(name)
	f.mu.Lock()
	s, ok := f.rw[path]
	var size int64
	if ok {
		size = s.m.Size()
	}
	f.mu.Unlock()
	if ok {
		return pebbleInfo{name: filepath.Base(path), size: size, mod: time.Now()}, nil
	}
	if !isDataset(path) {
		return vfs.Default.Stat(name)
	}
	m, err := chunkmap.Open(path, f.opts(true))
	if err != nil {
		return nil, err
	}
	size = m.Size()
	if err := m.Close(); err != nil {
		return nil, err
	}
	var mod time.Time
	if st, err := os.Stat(filepath.Join(path, chunkmap.ManifestName)); err == nil {
		mod = st.ModTime()
	}
	return pebbleInfo{name: filepath.Base(path), size: size, mod: mod}, nil
}

// PathBase implements vfs.FS.
func (f *PebbleFS) PathBase(p string) string { return filepath.Base(p) }

// PathJoin implements vfs.FS.
func (f *PebbleFS) PathJoin(elem ...string) string { return filepath.Join(elem...) }

// PathDir implements vfs.FS.
func (f *PebbleFS) PathDir(p string) string { return filepath.Dir(p) }

// GetDiskUsage implements vfs.FS.
func (f *PebbleFS) GetDiskUsage(p string) (vfs.DiskUsage, error) {
	return vfs.Default.GetDiskUsage(p)
}

// Unwrap implements vfs.FS.
func (f *PebbleFS) Unwrap() vfs.FS { return nil }

// pebbleInfo is a dataset's vfs.FileInfo.
type pebbleInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i pebbleInfo) Name() string           { return i.name }
func (i pebbleInfo) Size() int64            { return i.size }
func (i pebbleInfo) Mode() fs.FileMode      { return 0o644 }
func (i pebbleInfo) ModTime() time.Time     { return i.mod }
func (i pebbleInfo) IsDir() bool            { return false }
func (i pebbleInfo) Sys() any               { return nil }
func (i pebbleInfo) DeviceID() vfs.DeviceID { return vfs.DeviceID{} }

// pebbleFile is a handle of a dataset.
type pebbleFile struct {
	fs       *PebbleFS
	path     string
	m        *chunkmap.Manager
	shared   *pebbleShared // nil for a ReadOnly Manager of the handle's own
	writable bool

	mu     sync.Mutex
	pos    int64
	closed bool
}

var _ vfs.File = (*pebbleFile)(nil)

func (h *pebbleFile) Close() error {
	h.mu.Lock()
	closed := h.closed
	h.closed = true
	h.mu.Unlock()
	if closed {
		return os.ErrClosed
	}
	if h.shared != nil {
		return h.fs.release(h.path, h.shared)
	}
	h.fs.Stats.Closes.Add(1)
	return h.m.Close()
}

func (h *pebbleFile) Read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	n, err := h.m.ReadAt(p, h.pos)
	h.pos += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

func (h *pebbleFile) ReadAt(p []byte, off int64) (int, error) { return h.m.ReadAt(p, off) }

func (h *pebbleFile) Write(p []byte) (int, error) {
	if !h.writable {
		return 0, &os.PathError{Op: "write", Path: h.path, Err: chunkmap.ErrReadOnly}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if h.pos == h.m.Size() {
		h.fs.Stats.Appends.Add(1)
		off, err := h.m.Append(p)
		if err != nil {
			return 0, err
		}
		if off != h.pos {
			return 0, fmt.Errorf("clients: Append at %d of %s landed at %d", h.pos, h.path, off)
		}
		h.pos += int64(len(p))
		return len(p), nil
	}
	h.fs.Stats.WriteAts.Add(1)
	n, err := h.m.WriteAt(p, h.pos)
	h.pos += int64(n)
	return n, err
}

func (h *pebbleFile) WriteAt(p []byte, off int64) (int, error) {
	if !h.writable {
		return 0, &os.PathError{Op: "writeat", Path: h.path, Err: chunkmap.ErrReadOnly}
	}
	h.fs.Stats.WriteAts.Add(1)
	return h.m.WriteAt(p, off)
}

func (h *pebbleFile) Preallocate(off, length int64) error {
	if !h.writable {
		return nil
	}
	if n := off + length - h.m.Size(); n > 0 {
		return h.m.Grow(n)
	}
	return nil
}

func (h *pebbleFile) Stat() (vfs.FileInfo, error) {
	return pebbleInfo{name: filepath.Base(h.path), size: h.m.Size(), mod: time.Now()}, nil
}

func (h *pebbleFile) Sync() error {
	if !h.writable {
		return nil
	}
	h.fs.Stats.Syncs.Add(1)
	return h.m.Sync()
}

func (h *pebbleFile) SyncTo(int64) (fullSync bool, err error) {
	if err := h.Sync(); err != nil {
		return false, err
	}
	return true, nil
}

func (h *pebbleFile) SyncData() error { return h.Sync() }

func (h *pebbleFile) Prefetch(off, length int64) error {
	end := min(off+length, h.m.Size())
	off = max(off, h.m.Start())
	if off >= end {
		return nil
	}
	return h.m.Advise(off, end-off, chunkmap.AdviceWillNeed)
}

func (h *pebbleFile) Fd() uintptr { return vfs.InvalidFd }
