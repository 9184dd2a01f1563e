//go:build unix

package chunkmap

import "golang.org/x/sys/unix"

// addressSpaceLimit returns the process's limit on address space
// (RLIMIT_AS), and whether it has one.
func addressSpaceLimit() (uint64, bool) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &r); err != nil || r.Cur == unix.RLIM_INFINITY {
		return 0, false
	}
	return uint64(r.Cur), true
}
