package chunkmap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// lockName is the file that carries the lock on Windows, where a directory
// handle cannot be locked.
const lockName = "LOCK"

// lockTries bounds how many times lockDir makes LOCK again after it went
// between the look that found it and the open of it: each time takes
// another call deleting it at that moment.
const lockTries = 100

// dirLock is an advisory lock on a dataset directory.
type dirLock struct {
	f *os.File
	// created says that this lock made the LOCK file, which abandon
	// then deletes: a call that fails leaves the directory as it was.
	created bool
}

// lockDir takes a LockFileEx lock on dir/LOCK; the system releases it when
// the handle is closed or the process dies.
func lockDir(dir string, exclusive bool) (*dirLock, error) {
	path := filepath.Join(dir, lockName)
	var f *os.File
	created := false
	var err error
	for tries := 0; ; tries++ {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if created = err == nil; !errors.Is(err, fs.ErrExist) {
			break
		}
		// Another Open's, or one a Close left, which a failed Open or a
		// Remove may delete (abandon) before this opens it: then make
		// it again.
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if !errors.Is(err, fs.ErrNotExist) || tries == lockTries {
			break
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, lerr := os.Lstat(dir); errors.Is(lerr, fs.ErrNotExist) {
				// The caller made or found dir just before: a
				// concurrent Remove, or a failed Open's tidy
				// (abandon), deleted it since, now that neither leaves
				// the LOCK file to keep it, and the caller makes it
				// again or reports it gone, as on Unix.
				return nil, errDirMoved
			}
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := new(windows.Overlapped)
	err = windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol)
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock: LockFileEx: %w", err)
	}
	return &dirLock{f: f, created: created}, nil
}

func (l *dirLock) unlock() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// abandon lets go of l, held by a call that leaves no dataset in the
// directory (an Open that failed, Remove), deletes the LOCK file where
// this lock created it or drop is set (a Remove that removed the dataset),
// and then runs tidy, which removes what the call made (directories, the
// emptied dataset's directory): the lock is a file in the directory, which
// would otherwise stay as the one trace of a failed Open, and keep tidy
// from removing a directory. A LOCK file that was there before stays
// after a call that fails, which changes nothing. A nil l runs tidy alone.
//
// The delete cannot take another writer's lock away: every locker opens
// the file without FILE_SHARE_DELETE (os.OpenFile), and Windows refuses to
// delete a file any such handle is open on (ERROR_SHARING_VIOLATION), so
// the file goes only while no Open or Remove has it, and one that opens it
// afterwards makes it anew. For the same reason tidy, running after the
// unlock, cannot remove a directory another writer has begun a dataset in:
// that writer's LOCK file is in it, and a directory that is not empty is
// not removed.
func (l *dirLock) abandon(drop bool, tidy func() error) error {
	if l == nil {
		return tidy()
	}
	name := l.f.Name()
	err := l.unlock()
	if err == nil && (drop || l.created) {
		// Best effort: a LOCK file that stays (another Open has it open
		// now) is harmless, and the next Open uses it.
		_ = os.Remove(name)
	}
	return errors.Join(err, tidy())
}

// dir returns nil: the lock is not on the directory itself (and vfs.Bind
// binds nothing here).
func (l *dirLock) dir() *os.File { return nil }

// lockWhileMoving says whether Rename may hold a dataset's lock while it
// renames the dataset's directory: false, as the lock is the file LOCK in
// the directory, and Windows renames no directory that holds an open
// file.
const lockWhileMoving = false
