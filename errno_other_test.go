//go:build !windows

package chunkmap

import "syscall"

// testSpaceErrno is the system's error for a full disk.
const testSpaceErrno = syscall.ENOSPC

// testFilesErrno is the system's error for a process out of descriptors.
const testFilesErrno = syscall.EMFILE
