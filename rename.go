package chunkmap

// This file holds Rename: moving a dataset to another name, replacing the
// dataset there in one step where the system can swap two directories.
//
// What a crash leaves: a move is one rename(2), and a replacement one
// exchange of the two directories (renameat2 with RENAME_EXCHANGE), each
// all or nothing; the directories that hold the names are fsync'd before
// the old dataset's files are removed, so a power loss after Rename
// returned finds the new dataset under to. The removal afterwards runs
// under the old dataset's lock, in Remove's order; a crash during it
// leaves the old dataset, or what Remove leaves of one part way, under
// from, which Remove finishes.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// Rename moves the dataset in directory from to directory to, as
// os.Rename moves a file, replacing the dataset in to if there is one.
// Both names change at once: a crash or a power loss at any point leaves
// to naming one whole dataset, the old one or the one from named, never
// neither or a mix. Before it returns, Rename fsyncs the directories that
// hold the two names, so the change survives a power loss; it makes no
// data durable, so Sync (or Close) the dataset first, as one syncs a file
// before renaming it over another.
//
// Where to does not exist, the dataset is moved with one rename(2), on
// every platform (on Windows only while no Manager has it open); an empty
// directory under to is removed first, and a crash between the two leaves
// the dataset under from. Where to holds a dataset, Rename takes its lock, as Remove
// does (an error matching ErrLocked, with nothing changed, while a writer
// has it open), swaps the two directories in one step and removes the old
// dataset, now under from, as Remove would; a crash before that removal
// ends leaves the old dataset (or what Remove leaves part way) under from,
// and Remove finishes it. Swapping needs renameat2's RENAME_EXCHANGE,
// which Linux has from 3.15 on the common file systems (ext4, xfs, btrfs,
// tmpfs); elsewhere, and on a file system that lacks it, replacing fails
// with an error matching ErrIO and errors.ErrUnsupported, and nothing
// changes. ReadOnly Managers of the replaced dataset fail as Remove says.
//
// On Unix a writer may have from open: its Manager works through the
// directory it locked, wherever that is named, and goes on under to.
//
// from must hold a dataset (its manifest; else an error matching
// fs.ErrNotExist) and be a directory, not a symlink to one (ErrCorrupt);
// so must to, if it holds anything: a regular file or a symlink under to,
// or a directory holding files but no manifest, is refused with an error
// matching ErrCorrupt and fs.ErrExist, since it may be another program's.
// Renaming a dataset to itself does nothing. Other failures (to inside
// from, two file systems) match ErrIO and carry the system's error.
func Rename(from, to string) error {
	if err := renameDataset(vfs.OS, from, to); err != nil {
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
	fi, err := fsys.Lstat(from)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w: %w", from, errNoDataset, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("%s: %w", from, unpathOp(from, err))
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory (it is %s)", ErrCorrupt, from, vfs.Kind(fi.Mode()))
	}
	if err := holdsManifest(fsys, from); err != nil {
		return err
	}
	ti, err := fsys.Lstat(to)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return moveDataset(fsys, from, to)
	case err != nil:
		return fmt.Errorf("%s: %w", to, unpathOp(to, err))
	case os.SameFile(fi, ti):
		return nil
	case !ti.IsDir():
		return fmt.Errorf("%w: %s is not a directory (it is %s): %w", ErrCorrupt, to, vfs.Kind(ti.Mode()), fs.ErrExist)
	}
	entries, err := fsys.ReadDir(to)
	if err != nil {
		return fmt.Errorf("%s: %w", to, unpathOp(to, err))
	}
	if len(entries) == 0 {
		// os.Rename moves no directory over another, empty or not. The
		// empty one holds nothing to lose: a crash before the move
		// leaves the dataset under from, as if Rename had not begun.
		if err := fsys.Remove(to); err != nil {
			return fmt.Errorf("%s: %w", to, unpathOp(to, err))
		}
		return moveDataset(fsys, from, to)
	}
	return replaceDataset(fsys, from, to)
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

// moveDataset renames from to to, where nothing stands, and fsyncs the directories that hold the two names.
func moveDataset(fsys vfs.FS, from, to string) error {
	if err := fsys.Rename(from, to); err != nil {
		return unpathRename(err)
	}
	return syncParents(fsys, from, to)
}

// replaceDataset swaps from with to, which holds a dataset that no writer
// has open, and removes the old dataset, now under from.
func replaceDataset(fsys vfs.FS, from, to string) error {
	if !canExchange {
		return fmt.Errorf("%s holds a dataset, and replacing one needs an atomic exchange of two directories: %w", to, errNoExchange)
	}
	dir := canonicalDir(to)
	lock, err := lockDir(dir, true) // its errors do not name to
	if err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	// From here on no writer opens the old dataset.
	if err := holdsManifest(fsys, to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: %s holds files but no dataset, and may be another program's: not replaced: %w", ErrCorrupt, to, fs.ErrExist)
		}
		return errors.Join(err, lock.unlock())
	}
	if err := exchangeDirs(from, to); err != nil {
		return errors.Join(fmt.Errorf("exchange: %w", err), lock.unlock())
	}
	// The directory locked is now under from, unless another program put
	// another one under to between the lock and the exchange: then that
	// one was swapped, and is swapped back.
	bound, unbind, err := vfs.Bind(fsys, from, lock.dir())
	if err != nil {
		if errors.Is(err, vfs.ErrMoved) {
			err = errors.Join(errDirMoved, exchangeDirs(from, to))
		}
		return errors.Join(fmt.Errorf("%s: %w", to, err), lock.unlock())
	}
	if err := syncParents(fsys, from, to); err != nil {
		return errors.Join(err, lock.unlock(), unbind())
	}
	err = removeLocked(bound, from)
	lerr := lock.abandon(err == nil, func() error {
		if err != nil {
			return nil
		}
		return removeIfEmpty(bound, from)
	})
	if err != nil {
		err = fmt.Errorf("the replaced dataset, now under %s: %w", from, err)
	}
	return errors.Join(err, lerr, unbind())
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
