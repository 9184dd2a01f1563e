package chunkmap

// This file holds Remove: deleting a dataset, in an order that a crash
// cannot turn into something the next Remove fails on.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// Remove deletes the dataset in directory dir: its chunk files, its
// manifest, and the temporary files a crash of a writer can leave; files it
// does not recognise are left alone. If dir is empty afterwards, Remove
// removes it too: the directory it locked, and only while dir still names
// it (one that another program moved away is left where it went, and what
// stands under the name instead is left alone; on Unix a mount point
// stays too, emptied). Remove opens none of the files it removes, but for a
// manifest with no chunk file or temporary file beside it, whose first bytes it reads: a file under that common
// name (a Python package's MANIFEST, say) that holds a chunkmap
// manifest's magic at neither of the places its records start (offsets 0
// and 512) is another program's, and Remove refuses it (ErrCorrupt)
// rather than delete it.
//
// Remove locks the directory as a read-write [Open] does: while a writer,
// in this process or another, has the dataset open, it fails with an error
// matching ErrLocked and changes nothing. ReadOnly Managers take no lock and
// do not stop it; once their chunk files are gone they read the chunks
// they have mapped, as long as those stay mapped, and those whose files
// they still hold open for pread (the files of chunks they read with
// pread, or mapped and evicted since, kept within the descriptor cache's
// budget: see the README), as those files were; they fail (ErrFault) on
// the others: a chunk is mapped again, or its file opened again, only
// through its file's name. Refresh reports the removal (ErrCorrupt). (On
// Windows, where a mapped file cannot be deleted, Remove fails instead,
// part way, until they close.)
//
// A missing directory, or one without a manifest, chunk file or temporary
// file of a dataset, gives an error matching fs.ErrNotExist; so does an
// empty dir, as for [os.Remove], which also matches ErrInvalidOptions (the
// current directory is "."); a dir that is
// not a directory (a symlink to one included), an error matching
// ErrCorrupt. So does anything but a regular file under a dataset's file
// names (a FIFO, a symlink, a directory): Remove refuses it before it
// removes anything. It refuses so, with an error matching ErrIO and
// fs.ErrPermission that names it, a file it may not delete in a sticky
// directory (mode 0o1000, as /tmp: another user's).
//
// Order, and what a crash leaves: the temporary files go first, then the
// chunk files from the highest index down, then, once the directory is
// fsync'd so that no chunk file can outlive it on disk, the manifest. A
// crash or an error part way thus leaves the manifest with the chunk files
// of a prefix of the dataset (or none), never chunk files without a
// manifest; Open reports such a dataset as ErrCorrupt (a chunk missing),
// and Remove, called again, finishes the job. Remove also completes any
// other half-removed dataset: chunk files without a manifest, or a
// manifest without its chunk files. A crash after the manifest went leaves
// dir with no dataset in it: Remove, called again, reports an error
// matching fs.ErrNotExist and leaves dir, empty or not, in place (remove
// it with os.Remove). On Linux the emptied directory is
// renamed aside (to ".chunkmap-removing-" and 16 hex digits, beside it)
// before it is removed, so that only the directory Remove locked goes: a
// crash between the two leaves that empty directory there, which holds
// nothing and may be deleted. A directory that cannot be renamed so (one
// that an overlay file system's lower layer holds, as a dataset made in a
// container's image) is removed in place, as on other systems: checked to
// be the one locked just before, it is removed by name, so an empty
// directory that another program put under the name in that instant
// would go instead.
//
// On Windows, where the lock is the file LOCK in dir, Remove deletes that
// file too, after it let go of the lock, unless another Open has opened it
// by then (and then keeps the directory, which is that Open's).
func Remove(dir string) error {
	if err := removeDataset(vfs.OS, dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, classify(err))
	}
	return nil
}

// removeDataset does the work of Remove through fsys. Its errors do not
// name dir, but do name the file involved, by its name in dir.
func removeDataset(fsys vfs.FS, dir string) error {
	if dir == "" {
		return fmt.Errorf("%w: %w", errEmptyDir, fs.ErrNotExist)
	}
	fi, err := fsys.Lstat(lastComponent(dir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", errNoDataset, fs.ErrNotExist)
	case err != nil:
		return unpathOp(lastComponent(dir), err) // "lstat: permission denied"
	case !fi.IsDir():
		return fmt.Errorf("%w: not a directory (it is %s)", ErrCorrupt, vfs.Kind(fi.Mode()))
	}
	dir = canonicalDir(dir)
	lock, err := lockDir(dir, true) // its errors do not name dir
	if errors.Is(err, errDirMoved) {
		// Another Remove deleted the directory meanwhile.
		if _, serr := fsys.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("%w: %w", errNoDataset, fs.ErrNotExist)
		}
		lock, err = lockDir(dir, true)
	}
	if err != nil {
		return err
	}
	// From here on the lock is held: no writer changes the directory.
	// Its files are named through the directory locked, as a Manager's
	// are (see Open): another program that renames it, or puts a symlink
	// to another dataset under its name, sends no removal of a file
	// there; by path, one listing could be of this directory and the
	// removals of that one, which no lock of this Remove guards.
	bound, unbind, err := vfs.Bind(fsys, dir, lock.dir())
	if err != nil {
		if errors.Is(err, vfs.ErrMoved) {
			err = errDirMoved
		}
		// Remove names dir: "open: permission denied" for a directory
		// that may be read but not searched.
		return errors.Join(unpathOp(dir, err), lock.unlock())
	}
	err = removeLocked(bound, dir)
	// The emptied directory goes where no Open can have begun a new
	// dataset in it (see abandon): on Unix still under the lock (a locked
	// directory can be removed), on Windows once the LOCK file is gone. A
	// directory holding anything else stays.
	lerr := lock.abandon(err == nil, func() error {
		if err != nil {
			return nil
		}
		return removeIfEmpty(bound, dir)
	})
	return errors.Join(err, lerr, unbind())
}

// removeLocked removes the dataset files of dir in the order Remove
// documents.
//
// REQUIRES: the directory lock of dir held.
func removeLocked(fsys vfs.FS, dir string) error {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return bareErr(err)
	}
	var (
		haveManifest bool
		chunks       []int64
		temps        []string
	)
	for _, e := range entries {
		name := e.Name()
		idx, isChunk := chunk.ParseName(name)
		if !isChunk && name != ManifestName && name != manifestTemp && !chunk.IsTemp(name) {
			continue // not ours
		}
		// The type comes from the listing (or lstat), so a symlink is
		// seen as one and nothing is opened: refuse before any change.
		if !e.Type().IsRegular() {
			return fmt.Errorf("%w: %s is not a regular file (it is %s)", ErrCorrupt, name, vfs.Kind(e.Type()))
		}
		switch {
		case isChunk:
			chunks = append(chunks, idx)
		case name == ManifestName:
			haveManifest = true
		default:
			temps = append(temps, name)
		}
	}
	if !haveManifest && len(chunks) == 0 && len(temps) == 0 {
		return fmt.Errorf("%w (no %s or chunk files): %w", errNoDataset, ManifestName, fs.ErrNotExist)
	}

	if haveManifest && len(chunks) == 0 && len(temps) == 0 {
		// Alone, the manifest is the only sign that dir holds a
		// dataset, and the name is a common one (Python packages have
		// a MANIFEST): Remove called on the wrong directory must not
		// delete another program's file. With chunk files beside it,
		// a manifest without the magic is a damaged dataset's.
		if err := checkManifestMagic(fsys, dir, false); err != nil {
			return fmt.Errorf("%w and no chunk file is beside it: not removed, as it may be another program's", err)
		}
	}

	names := slices.Clone(temps)
	for _, idx := range chunks {
		names = append(names, chunk.Name(idx))
	}
	if haveManifest {
		names = append(names, ManifestName)
	}
	if err := stickyRefusal(fsys, dir, names); err != nil {
		return err
	}

	remove := func(name string) error {
		if err := removeFile(fsys, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%s: %w", name, bareErr(err))
		}
		return nil
	}
	for _, name := range temps { // they never hold data
		if err := remove(name); err != nil {
			return err
		}
	}
	slices.Sort(chunks)
	for _, idx := range slices.Backward(chunks) {
		if err := remove(chunk.Name(idx)); err != nil {
			return err
		}
	}
	if !haveManifest {
		if err := fsys.SyncDir(dir); err != nil {
			return fmt.Errorf("fsync: %w", bareErr(err))
		}
		return nil
	}
	// The chunk files' removal is durable before the manifest's.
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync: %w", bareErr(err))
	}
	if err := remove(ManifestName); err != nil {
		return err
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync: %w", bareErr(err))
	}
	return nil
}

// checkManifestMagic reads the first bytes of dir's manifest and returns an
// error matching ErrCorrupt if neither record slot of it begins with a
// chunkmap manifest's magic (a shorter file included). Of a file that
// cannot be read it cannot tell: Remove (not strict) gets nil, and removes
// the file as a manifest; Rename (strict), which would swap the directory
// in before it removes anything, gets the error of the read (ErrIO). What a
// writer puts under the name has the magic in one of the two: a new (or
// upgraded) manifest is written whole under a temporary name before it is
// renamed there, with record 1 at offset recordStride and zeros at offset 0
// until a Sync writes record 2 there; and a record overwrites the older of
// the two, so a crash that tears it leaves the other whole. (Version 1 has
// its one record at offset 0.)
func checkManifestMagic(fsys vfs.FS, dir string, strict bool) error {
	f, err := openManifest(fsys, filepath.Join(dir, ManifestName), os.O_RDONLY)
	if err != nil {
		if strict {
			return fmt.Errorf("%w: %s: %w", ErrIO, ManifestName, unpathOp(filepath.Join(dir, ManifestName), err))
		}
		return nil
	}
	defer f.Close()
	b := make([]byte, recordStride+len(manifestMagic))
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		if strict {
			return fmt.Errorf("%w: %s: %w", ErrIO, ManifestName, unpathOp(filepath.Join(dir, ManifestName), err))
		}
		return nil
	}
	b = b[:n]
	for _, off := range []int{0, recordStride} {
		if len(b) >= off+len(manifestMagic) && string(b[off:off+len(manifestMagic)]) == manifestMagic {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a chunkmap manifest (it begins %q)", ErrCorrupt, ManifestName, b[:min(n, len(manifestMagic))])
}

// removeIfEmpty removes directory dir if it holds nothing: the one fsys
// is bound to, and only while dir's path still leads to it (see
// vfs.Bind).
func removeIfEmpty(fsys vfs.FS, dir string) error {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return bareErr(err)
	}
	if len(entries) > 0 {
		return nil
	}
	if err := removeFile(fsys, dir); err != nil {
		if errors.Is(err, vfs.ErrMoved) {
			// Another program moved the directory and put something
			// else under its name: neither is Remove's to delete.
			return nil
		}
		if errors.Is(err, syscall.EBUSY) {
			// A mount point (a volume given to the dataset): the
			// directory is the mount's, and stays, as one holding
			// other files does. Reporting it would make a whole
			// removal look failed.
			return nil
		}
		// Another program may have put a file there meanwhile.
		if entries, lerr := fsys.ReadDir(dir); lerr == nil && len(entries) > 0 {
			return nil
		}
		return fmt.Errorf("remove directory: %w", bareErr(err))
	}
	return nil
}

// bareErr returns the error inside a *fs.PathError, for messages that name
// the path themselves; the chain (a syscall.Errno) still matches fs.ErrNotExist
// or fs.ErrPermission.
func bareErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
