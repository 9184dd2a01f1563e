package chunkmap_test

import "os"

// platformLockFile is the file in a dataset's directory that carries the
// lock: on Windows, where a directory cannot be locked, LOCK (lock_windows.go).
const platformLockFile = "LOCK"

// platformPerm is the permission os.Stat reports for a file or directory
// made with mode want: Windows keeps only the owner's write bit (as the
// read-only attribute), and Go reports 0o666 or 0o444 for a file, 0o777 or
// 0o555 for a directory.
func platformPerm(want os.FileMode, dir bool) os.FileMode {
	p := os.FileMode(0o444)
	if want&0o200 != 0 {
		p = 0o666
	}
	if dir {
		p |= 0o111
	}
	return p
}
