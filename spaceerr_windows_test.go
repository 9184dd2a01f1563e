package chunkmap

import "syscall"

// testSpaceErrno is the system's error for a full disk: ERROR_DISK_FULL.
const testSpaceErrno = syscall.Errno(112)
