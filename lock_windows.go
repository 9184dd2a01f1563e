package chunkmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// lockName is the file that carries the lock on Windows, where a directory
// handle cannot be locked.
const lockName = "LOCK"

// dirLock is an advisory lock on a dataset directory.
type dirLock struct{ f *os.File }

// lockDir takes a LockFileEx lock on dir/LOCK; the system releases it when
// the handle is closed or the process dies.
func lockDir(dir string, exclusive bool) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
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
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// dir returns nil: the lock is not on the directory itself (and vfs.Bind
// binds nothing here).
func (l *dirLock) dir() *os.File { return nil }
