//go:build unix

package chunkmap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// dirLock is an advisory lock on a dataset directory.
type dirLock struct{ f *os.File }

// lockDir takes an exclusive flock(2) on the directory itself, so no lock
// file is left behind. flock locks belong to the open file description, so
// a second Open in the same process conflicts just as one in another
// process does. The kernel drops the lock when the process dies. Its
// errors do not name dir: the caller's do.
func lockDir(dir string, exclusive bool) (*dirLock, error) {
	// The caller looked at dir before, but another program may have put
	// something else under its name since. O_DIRECTORY: a FIFO, whose
	// plain open would wait for a writer forever, fails at once (ENOTDIR).
	// O_NOFOLLOW: a symlink (dir has none, canonicalDir resolved them)
	// fails too (ELOOP), instead of sending the lock, and the Manager
	// bound to the directory locked, to wherever it points: another
	// dataset. Either is what Open says of such a dir, ErrCorrupt.
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		if fi, lerr := os.Lstat(dir); lerr == nil && !fi.IsDir() {
			return nil, fmt.Errorf("%w: not a directory (it is %s): %w", ErrCorrupt, vfs.Kind(fi.Mode()), unpath(dir, err))
		}
		if errors.Is(err, fs.ErrNotExist) {
			// The caller made or found dir just before: a concurrent
			// Remove deleted it since, as it may after the open below,
			// and the caller makes it again or reports it gone.
			return nil, errDirMoved
		}
		return nil, fmt.Errorf("lock: %w", unpath(dir, err))
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock: flock: %w", err)
	}
	// The lock is on the directory this descriptor opened. Remove deletes
	// a directory while it holds it locked; an Open that opened it just
	// before gets the lock once Remove lets go, on a directory no path
	// leads to any more, while the path may name a new one that another
	// Open has locked. Such a lock guards nothing.
	mine, err := f.Stat()
	if err == nil {
		var now os.FileInfo
		if now, err = os.Stat(dir); err == nil && !os.SameFile(mine, now) || errors.Is(err, os.ErrNotExist) {
			f.Close()
			return nil, errDirMoved
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock: %w", unpath(dir, err))
	}
	return &dirLock{f: f}, nil
}

// dir returns the descriptor of the directory locked, for vfs.Bind; nil
// for no lock.
func (l *dirLock) dir() *os.File {
	if l == nil {
		return nil
	}
	return l.f
}

func (l *dirLock) unlock() error {
	if l == nil {
		return nil
	}
	// Unlock before closing: the lock belongs to the open file
	// description, and a child process the program forks in another
	// goroutine holds a duplicate of it until it execs, so closing alone
	// could leave the directory locked for that instant (and a reopen
	// right after Close would find it locked).
	var err error
	for {
		err = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		err = fmt.Errorf("unlock: %w", err)
	}
	return errors.Join(err, l.f.Close())
}

// abandon lets go of l, held by a call that leaves no dataset in the
// directory (an Open that failed, Remove), after tidy has removed what the
// call made: under the lock, so that no writer can have begun a dataset in
// a directory tidy removes. The lock is on the directory itself, so drop
// (delete the lock's file, on Windows) means nothing here. A nil l runs
// tidy alone.
func (l *dirLock) abandon(_ bool, tidy func() error) error {
	err := tidy()
	return errors.Join(err, l.unlock())
}

// lockWhileMoving says whether Rename may hold a dataset's lock while it
// renames the dataset's directory: true, as the lock is on the directory
// itself, which may be renamed while it is held.
const lockWhileMoving = true
