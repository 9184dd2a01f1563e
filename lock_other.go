//go:build !unix && !windows

package chunkmap

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// dirLock is an advisory lock on a dataset directory.
type dirLock struct{}

// lockDir fails: this platform has no file locking that chunkmap knows of,
// and opening a dataset without its lock could let two writers corrupt it.
func lockDir(dir string, exclusive bool) (*dirLock, error) {
	return nil, fmt.Errorf("lock: %w on %s/%s", errors.ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

func (l *dirLock) unlock() error { return nil }

// abandon runs tidy: no lock is ever held here.
func (l *dirLock) abandon(_ bool, tidy func() error) error { return tidy() }

// dir returns nil: the lock is not on the directory itself (and vfs.Bind
// binds nothing here).
func (l *dirLock) dir() *os.File { return nil }

// lockWhileMoving says whether Rename may hold a dataset's lock while it
// renames the dataset's directory: false, as no lock is ever held here
// (Rename fails, as Open does).
const lockWhileMoving = false
