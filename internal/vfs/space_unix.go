//go:build unix

package vfs

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"golang.org/x/sys/unix"
)

// Avail returns the bytes available to an unprivileged user that st, a
// statfs(2) of a file system, reports: f_bavail blocks of blockUnit bytes.
// A file system that counts no blocks at all (ramfs, a tmpfs mounted with
// size=0, some FUSE file systems) reports 0 free, which is no limit, not a
// full disk: for one that keeps its files in memory the memory is the
// limit (see memoryLimit), and for any other the result is an error
// wrapping errors.ErrUnsupported, so that callers do not refuse growth the
// file system would take.
func Avail(st *unix.Statfs_t) (int64, error) {
	if st.Blocks != 0 {
		return blockBytes(st.Bavail, blockUnit(st)), nil
	}
	if n, ok := memoryLimit(st); ok {
		return n, nil
	}
	return 0, fmt.Errorf("statfs: %w: the file system reports no block counts", errors.ErrUnsupported)
}

// blockBytes returns n blocks of unit bytes in bytes, or math.MaxInt64
// where they are more: a file system that knows no limit may say so with
// a count of all ones (f_bavail is unsigned on Linux and macOS), whose
// product wrapped negative and read as a full disk. A count below zero
// (the BSDs', whose f_bavail is signed, once the blocks kept for root are
// in use) is none.
func blockBytes[N ~int64 | ~uint64](n N, unit int64) int64 {
	if n <= 0 || unit <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(n), uint64(unit))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}
