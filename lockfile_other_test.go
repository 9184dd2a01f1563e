//go:build !windows

package chunkmap_test

import "os"

// platformLockFile is the file in a dataset's directory that carries the
// lock: none here, where the lock is on the directory itself.
const platformLockFile = ""

// platformPerm is the permission os.Stat reports for a file or directory
// made with mode want: want itself here.
func platformPerm(want os.FileMode, _ bool) os.FileMode { return want }
