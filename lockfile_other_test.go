//go:build !windows

package chunkmap_test

// platformLockFile is the file in a dataset's directory that carries the
// lock: none here, where the lock is on the directory itself.
const platformLockFile = ""
