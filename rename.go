package chunkmap

// This file holds Rename: moving a dataset to another name, replacing the
// dataset there in one step where the system can swap two directories.
//
// What a crash leaves: a move is one rename(2), and a replacement one
// exchange of the two directories (renameat2 with RENAME_EXCHANGE), each
// all or nothing. Right after the exchange the old dataset, now under from,
// is renamed aside to a name of its own beside from (vfs.AsideName), so
// that from names nothing when Rename returns, and a call tried again after
// an error cannot swap the old dataset back; then the directories that hold
// the names are fsync'd, and the old dataset's files removed there, under
// its lock, in Remove's order. A crash between the exchange and the rename
// aside leaves the old dataset whole under from (Rename's doc says what
// that asks of a program); a crash later leaves it, or what Remove leaves
// of it part way, under the aside name, for Remove. Both datasets stay
// locked throughout, so no other Rename or Remove of either name runs
// beside it.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// Rename moves the dataset in directory from to directory to, as os.Rename
// moves a file, replacing the dataset in to if there is one. Both names
// change at once: a crash or a power loss at any point leaves to naming one
// whole dataset, the old one or the one from named, never neither or a mix.
// Before it returns, Rename fsyncs the directories that hold the two names,
// so the change survives a power loss; it makes no data durable, so Sync
// (or Close) the dataset first, as one syncs a file before renaming it over
// another.
//
// Where to does not exist, the dataset is moved with one rename(2), on
// every platform (on Windows only while no Manager has it open). An empty
// directory under to is replaced: on Linux by the same rename(2), elsewhere
// removed first (a crash between the two leaves the dataset under from).
// Where to holds a dataset, Rename takes its lock, as Remove does, swaps
// the two directories in one step, renames the old dataset, now under from,
// aside at once to ".chunkmap-removing-" and 16 hex digits beside from, and
// removes it there as Remove would, holding its own locks until then (an
// Open of to meanwhile fails with ErrLocked). If the old dataset cannot
// then be set aside or removed, the error matches ErrLeftover (and not its
// cause's sentinel): the replacement is made and durable, and the message
// names the directory that holds what is left of the old dataset, which
// Remove finishes (or os.Remove, where the message says only the directory
// is left, empty); the call tried again finds nothing under from (unless
// the setting aside failed: then from holds the old dataset, and must be
// removed, not renamed again). An error of the fsync of the directories
// after the swap is no ErrLeftover: the swap may not survive a power loss.
// Swapping needs renameat2's RENAME_EXCHANGE, which Linux has from 3.15 on
// the common file systems (ext4, xfs, btrfs, tmpfs); elsewhere, and on a file
// system that lacks it, replacing fails with an error matching ErrIO and
// errors.ErrUnsupported, and nothing changes. ReadOnly Managers of the
// replaced dataset fail as Remove says.
//
// One state differs from a file's: a crash (or a power loss before the
// directories are fsync'd) between the swap and the rename aside, an
// instant, leaves the old dataset whole under from and the new one under
// to. Rename(from, to) called again then moves the old dataset back over
// the new one. So a program that finds from still there after a crash
// should not rename it again unthinking: it can read which dataset to
// holds, or Remove from and build it anew, as a program that renames a
// temporary file into place does when it finds the temporary file half
// written.
//
// Rename takes from's lock too: while a writer has from or to open, or
// another Remove or Rename of either is under way, it fails with an error
// matching ErrLocked and changes nothing. (On Windows, where the lock is a
// file in the directory, from's is let go of before the move, and a writer
// that opens from in between makes the move fail with ErrIO.)
//
// from must be a directory, not a symlink to one (ErrCorrupt), holding a
// dataset: a manifest with a chunkmap manifest's magic (else an error
// matching fs.ErrNotExist, for none, or ErrCorrupt). So must to, if it
// holds anything: a regular file or a symlink under to, or a directory
// holding files but no chunkmap manifest (a Python package's MANIFEST,
// say), is refused with an error matching ErrCorrupt and fs.ErrExist, since
// it may be another program's. Renaming a dataset to itself does nothing.
// Other failures (one name inside the other, two file systems) match ErrIO
// and carry the system's error.
func Rename(from, to string) error { return renameIn(vfs.OS, from, to) }

// renameIn is Rename through fsys (tests pass one that fails operations).
func renameIn(fsys vfs.FS, from, to string) error {
	if err := renameDataset(fsys, from, to); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, classify(err))
	}
	return nil
}

// renameDataset does the work of Rename through fsys. Its errors name a
// path only where they are about one of the two.
func renameDataset(fsys vfs.FS, from, to string) error {
	if from == "" || to == "" {
		return fmt.Errorf("%w: a directory name is empty", ErrInvalidOptions)
	}
	// A trailing separator would make lstat follow a symlink under the
	// name; the name's own entry is what is moved.
	from, to = trimSeps(from), trimSeps(to)
	fi, err := fsys.Lstat(from)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w: %w", from, errNoDataset, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("%s: %w", from, unpathOp(from, err))
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory (it is %s)", ErrCorrupt, from, vfs.Kind(fi.Mode()))
	}
	if ti, err := fsys.Lstat(to); err == nil && os.SameFile(fi, ti) {
		return nil
	}
	// Looked at before the lock too: on Windows the lock is a file that
	// taking it makes in the directory, which must not be put in one that
	// holds no dataset.
	if err := isDataset(fsys, from, false); err != nil {
		return err
	}
	// from's lock keeps out its writers and every other Remove or Rename
	// of it for the rest of the call: two of them at once could each find
	// the dataset the other had just moved, and remove it. (On Windows the
	// lock is a file in the directory, which keeps it from being renamed:
	// there the check runs under the lock, and the move after it.)
	lock, err := lockRenamed(from)
	if err != nil {
		return err
	}
	if err := isDataset(fsys, from, false); err != nil {
		return errors.Join(err, lock.unlock())
	}
	if !lockWhileMoving {
		if err := lock.unlock(); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
		return renameLocked(fsys, from, to)
	}
	return errors.Join(renameLocked(fsys, from, to), lock.unlock())
}

// lockRenamed takes the lock of dir, one of the datasets a Rename moves,
// as Remove does.
func lockRenamed(dir string) (*dirLock, error) {
	lock, err := lockDir(canonicalDir(dir), true) // its errors do not name dir
	switch {
	case errors.Is(err, errDirMoved):
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			// A Remove or Rename of it finished meanwhile.
			return nil, fmt.Errorf("%s: %w: %w", dir, errNoDataset, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	case errors.Is(err, ErrLocked):
		return nil, fmt.Errorf("%s: %w (a writer has it open, or a Remove or Rename of it is under way)", dir, err)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return lock, nil
}

// renameLocked moves the dataset in from to to.
//
// REQUIRES: from's lock held, where lockWhileMoving.
func renameLocked(fsys vfs.FS, from, to string) error {
	ti, err := fsys.Lstat(to)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return moveDataset(fsys, from, to)
	case err != nil:
		return fmt.Errorf("%s: %w", to, unpathOp(to, err))
	case !ti.IsDir():
		return fmt.Errorf("%w: %s is not a directory (it is %s): %w", ErrCorrupt, to, vfs.Kind(ti.Mode()), fs.ErrExist)
	}
	entries, err := fsys.ReadDir(to)
	if err != nil {
		return fmt.Errorf("%s: %w", to, unpathOp(to, err))
	}
	if len(entries) > 0 {
		return replaceDataset(fsys, from, to)
	}
	// os.Rename moves no directory over another, empty or not. Where the
	// lock is on the directory itself, the empty one is replaced under
	// its lock, so that a read-write Open that has just made it, and
	// locked it, keeps it; where the system can (moveOverEmpty), by one
	// rename(2), which replaces only an empty directory, so that a move
	// that fails (two file systems) leaves it. Elsewhere it is removed
	// first: it holds nothing to lose, and a crash before the move leaves
	// the dataset under from, as if Rename had not begun.
	if !lockWhileMoving {
		if err := fsys.Remove(to); err != nil {
			return fmt.Errorf("%s: %w", to, unpathOp(to, err))
		}
		return moveDataset(fsys, from, to)
	}
	lock, err := lockRenamed(to)
	if err != nil {
		return err
	}
	if canMoveOverEmpty {
		err = moveOverEmpty(from, to)
		if err == nil {
			err = syncParents(fsys, from, to)
		}
		return errors.Join(err, lock.unlock())
	}
	bound, unbind, err := vfs.Bind(fsys, to, lock.dir())
	if err == nil {
		if err = removeIfEmpty(bound, to); err == nil {
			if _, lerr := fsys.Lstat(to); !errors.Is(lerr, fs.ErrNotExist) {
				err = fmt.Errorf("%w: files were put in it meanwhile: %w", ErrCorrupt, fs.ErrExist)
			}
		}
		err = errors.Join(err, unbind())
	}
	if err = errors.Join(err, lock.unlock()); err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	return moveDataset(fsys, from, to)
}

// trimSeps returns path without the separators at its end, but for a root
// ("/", `C:\`), which is all separators after its volume name.
func trimSeps(path string) string {
	t := strings.TrimRightFunc(path, isPathSep)
	if t == "" || t == filepath.VolumeName(path) {
		return path
	}
	return t
}

// holdsManifest returns nil if directory dir holds a manifest, a regular
// file; else an error matching fs.ErrNotExist (none) or ErrCorrupt
// (something else under the name).
func holdsManifest(fsys vfs.FS, dir string) error {
	mi, err := fsys.Lstat(filepath.Join(dir, ManifestName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w (no %s): %w", dir, errNoDataset, ManifestName, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("%s: %w", dir, unpathOp(filepath.Join(dir, ManifestName), err))
	case !mi.Mode().IsRegular():
		return fmt.Errorf("%w: %s in %s is not a regular file (it is %s)", ErrCorrupt, ManifestName, dir, vfs.Kind(mi.Mode()))
	}
	return nil
}

// moveDataset renames from to to, where nothing stands, and fsyncs the
// directories that hold the two names.
func moveDataset(fsys vfs.FS, from, to string) error {
	// Where the system can, the rename replaces nothing: an empty
	// directory made under to since it was looked at (by an Open that
	// has locked it, say) stays, and the call fails.
	err := moveNew(from, to)
	if errors.Is(err, errors.ErrUnsupported) {
		err = fsys.Rename(from, to)
	}
	if err != nil {
		return unpathRename(err)
	}
	return syncParents(fsys, from, to)
}

// replaceDataset swaps from with to, which holds a dataset that no writer
// has open, sets the old dataset, now under from, aside under a name of
// its own and removes it there. Set aside before it is removed, the old
// dataset is never under from when Rename returns, with an error or not:
// a caller that tries again after an error finds no dataset under from,
// as a rename(2) tried again finds no file, instead of swapping the old
// dataset back over the new one and removing that.
func replaceDataset(fsys vfs.FS, from, to string) error {
	if !canExchange {
		if err := isDataset(fsys, to, true); err != nil {
			return err
		}
		return fmt.Errorf("%s holds a dataset, and replacing one needs an atomic exchange of two directories: %w", to, errNoExchange)
	}
	if err := notNested(from, to); err != nil {
		return err
	}
	lock, err := lockRenamed(to)
	if err != nil {
		return err
	}
	// From here on no writer opens the old dataset. It must be one: the
	// exchange cannot be taken back once its removal has begun.
	if err := isDataset(fsys, to, true); err != nil {
		return errors.Join(err, lock.unlock())
	}
	if err := exchangeDirs(from, to); err != nil {
		return errors.Join(fmt.Errorf("exchange: %w", err), lock.unlock())
	}
	// The directory locked is now under from, unless another program put
	// another one under to between the lock and the exchange: then that
	// one was swapped, and is swapped back.
	locked, err := lock.dir().Stat()
	if err == nil {
		var now fs.FileInfo
		if now, err = fsys.Lstat(from); err == nil && !os.SameFile(locked, now) {
			err = errors.Join(errDirMoved, exchangeDirs(from, to))
		}
	}
	if err != nil {
		return errors.Join(fmt.Errorf("%s: %w", to, err), lock.unlock())
	}
	// The rename aside follows at once, so that from names the old
	// dataset for as short a time as can be: a crash between the two
	// leaves it whole under from, where a Rename tried again would take
	// it for the new one (see Rename). Both renames are then made durable
	// by one fsync of each directory: a journaling file system commits
	// them in order, so a power loss leaves neither, the exchange, or
	// both.
	aside := filepath.Join(parentDir(from), vfs.AsideName())
	if err := fsys.Rename(from, aside); err != nil {
		err = unpathRename(err)
		if serr := syncParents(fsys, from, to); serr != nil {
			return errors.Join(fmt.Errorf("%s now holds the dataset; the one it replaced is under %s, and could not be set aside for removal: %w", to, from, err), serr, lock.unlock())
		}
		return errors.Join(leftoverErr(to, from, fmt.Errorf("it could not be set aside for removal (%v); do not Rename %s again, which would swap the two back", err, from)), lock.unlock())
	}
	if err := syncParents(fsys, from, to); err != nil {
		return errors.Join(fmt.Errorf("%w (%s holds the dataset; the one it replaced is under %s)", err, to, aside), lock.unlock())
	}
	bound, unbind, err := vfs.Bind(fsys, aside, lock.dir())
	if err != nil {
		return errors.Join(leftoverErr(to, aside, err), lock.unlock())
	}
	err = removeLocked(bound, aside)
	var rmdirErr error
	lerr := lock.abandon(err == nil, func() error {
		if err == nil {
			rmdirErr = removeIfEmpty(bound, aside) // the directory, left empty
		}
		return nil
	})
	switch {
	case err != nil:
		err = leftoverErr(to, aside, err)
	case rmdirErr != nil:
		// No dataset for Remove to remove is left: only the directory.
		err = fmt.Errorf("%w: %s now holds the dataset; the one it replaced was removed, but its directory is left, empty, as %s (remove it as any directory): %v", ErrLeftover, to, aside, rmdirErr)
	}
	return errors.Join(err, lerr, unbind())
}

// leftoverErr is the error of a Rename that replaced to, durably, and left
// the dataset it replaced, or part of it, under left, for cause: it matches
// ErrLeftover and only that, cause's sentinels being in its text, not its
// chain, so that no caller takes a Rename that was made for one refused.
func leftoverErr(to, left string, cause error) error {
	return fmt.Errorf("%w: %s now holds the dataset; the one it replaced is left under %s (Remove it): %v", ErrLeftover, to, left, cause)
}

// isDataset returns nil if directory dir holds a chunkmap manifest: a
// regular file under the name with the manifest's magic where one of its
// records begins; else an error matching fs.ErrNotExist (no manifest),
// ErrCorrupt (another file under the name) or ErrIO (it cannot be read).
// With replaced, dir is the one a Rename would replace, and a directory
// that holds files but no dataset (another program's, perhaps) is refused
// with an error matching ErrCorrupt and fs.ErrExist.
func isDataset(fsys vfs.FS, dir string, replaced bool) error {
	err := holdsManifest(fsys, dir)
	if err == nil {
		err = checkManifestMagic(fsys, dir, true)
		if err != nil {
			err = fmt.Errorf("%s: %w", dir, err)
		}
	}
	// Only what says that dir holds no chunkmap manifest makes it another
	// program's: a manifest that could not be looked at (a directory the
	// process may read but not search) is reported as the system's error.
	if replaced && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt)) {
		return fmt.Errorf("%w: %s holds files but no dataset, and may be another program's: not replaced: %w", ErrCorrupt, dir, fs.ErrExist)
	}
	return err
}

// notNested returns an error if either of from and to is inside the other,
// which no exchange can swap (the kernel says EINVAL, as it does for a
// file system without the exchange: this tells the two apart).
func notNested(from, to string) error {
	fi, ferr := os.Stat(from)
	ti, terr := os.Stat(to)
	if ferr != nil || terr != nil {
		return nil // the exchange says what is wrong
	}
	inside := func(inner string, outer fs.FileInfo) bool {
		abs, err := filepath.Abs(inner)
		if err != nil {
			return false
		}
		for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
			if di, err := os.Stat(d); err == nil && os.SameFile(di, outer) {
				return true
			}
			if d == filepath.Dir(d) {
				return false
			}
		}
	}
	switch {
	case inside(to, fi):
		return fmt.Errorf("%s is inside %s: %w", to, from, syscall.EINVAL)
	case inside(from, ti):
		return fmt.Errorf("%s is inside %s: %w", from, to, syscall.EINVAL)
	}
	return nil
}

// syncParents fsyncs the directories that hold the names from and to
// (one, if they are the same). A directory the process may not read (mode
// 0o300) cannot be opened to be fsync'd, and is passed over, as Open passes
// over such a parent of the directories it makes (syncMade).
func syncParents(fsys vfs.FS, from, to string) error {
	pf, pt := parentDir(from), parentDir(to)
	for i, p := range []string{pt, pf} {
		if i == 1 && filepath.Clean(p) == filepath.Clean(pt) {
			break
		}
		err := fsys.SyncDir(p)
		if err != nil && !(notOpened(err) && errors.Is(err, fs.ErrPermission)) {
			return fmt.Errorf("sync directory %s: %w", p, unpath(p, err))
		}
	}
	return nil
}

// parentDir returns the directory that holds d's entry: by the kernel's
// lookup of "d/.." where d has a ".." that a symlink before it may take
// elsewhere than the text says.
func parentDir(d string) string {
	if slices.Contains(strings.FieldsFunc(d, isPathSep), "..") {
		return d + string(filepath.Separator) + ".."
	}
	return filepath.Dir(d)
}

// unpathRename returns the error of a rename without the *os.LinkError
// that names both paths, which Rename's message names already.
func unpathRename(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("rename: %w", le.Err)
	}
	return err
}
