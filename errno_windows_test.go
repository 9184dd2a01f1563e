package chunkmap

import "syscall"

// testSpaceErrno is the system's error for a full disk: ERROR_DISK_FULL.
const testSpaceErrno = syscall.Errno(112)

// testFilesErrno is the system's error for a process out of handles:
// ERROR_TOO_MANY_OPEN_FILES (syscall.EMFILE is an invention of Go's there,
// which no Windows call returns).
const testFilesErrno = syscall.Errno(4)
