package chunkmap_test

// platformLockFile is the file in a dataset's directory that carries the
// lock: on Windows, where a directory cannot be locked, LOCK (lock_windows.go).
const platformLockFile = "LOCK"
