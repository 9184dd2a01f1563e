package vfs

import "golang.org/x/sys/unix"

// memoryLimit returns the system's memory and swap where st is of a file
// system that keeps its files in memory without a size limit (ramfs, a
// tmpfs mounted with size=0): no such file system can hold more, so growth
// past it (a write at an absurd offset) is refused up front instead of
// filling the memory until the kernel kills a process.
func memoryLimit(st *unix.Statfs_t) (int64, bool) {
	// (f_type is 32 bits wide on 32-bit platforms, where RAMFS_MAGIC
	// overflows its signed type.)
	if t := uint32(st.Type); t != unix.RAMFS_MAGIC && t != unix.TMPFS_MAGIC {
		return 0, false
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0, false
	}
	// A tmpfs's pages may be swapped out: it holds up to memory and swap.
	return (int64(si.Totalram) + int64(si.Totalswap)) * int64(si.Unit), true
}

// blockUnit returns the size of the blocks st counts: on Linux the fragment
// size f_frsize (as statvfs(3) takes it), which a file system may set apart
// from f_bsize, its preferred I/O size (some FUSE file systems do), and
// f_bsize where a kernel leaves f_frsize 0.
func blockUnit(st *unix.Statfs_t) int64 {
	if st.Frsize > 0 {
		return int64(st.Frsize)
	}
	return int64(st.Bsize)
}
