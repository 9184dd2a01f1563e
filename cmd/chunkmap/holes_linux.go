package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// holesTrusted lists the file systems whose SEEK_DATA and SEEK_HOLE
// dataSpan trusts, which answer from their extent maps and the page cache
// together, so that data not yet written back counts as data; on others
// every byte is read. A file system that reports a hole where data is
// would cost salvage that data without a trace (OpenZFS before 2.2.2 did,
// for data not yet written back: openzfs/zfs#15526), where reading holes
// costs only time.
var holesTrusted = map[uint32]bool{
	unix.EXT4_SUPER_MAGIC:  true, // ext2, ext3 and ext4 share it
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.TMPFS_MAGIC:       true,
}

// holesFile prepares the chunk file f, open for reading, for dataSpan: it
// reports whether its file system's account of holes is trusted (see
// holesTrusted), and if so turns off readahead on f. Blocks allocated
// ahead of writes (fallocate) read as zeros and count as holes while the
// page cache holds none of their pages; readahead past the data read
// would put them there, and each next look would find more "data", until
// the whole allocation was read.
func holesFile(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	trusted := false
	if err := rc.Control(func(fd uintptr) {
		var st unix.Statfs_t
		trusted = unix.Fstatfs(int(fd), &st) == nil && holesTrusted[uint32(st.Type)] &&
			unix.Fadvise(int(fd), 0, 0, unix.FADV_RANDOM) == nil
	}); err != nil {
		return false
	}
	return trusted
}

// dataSpan returns where, in the file f, the first data at or after pos
// begins and where the data there ends (the next hole, or the file's end),
// as lseek's SEEK_DATA and SEEK_HOLE tell. No data at or after pos (ENXIO)
// gives the file's size for both. ok is false where the call fails, and
// the caller then reads the bytes.
func dataSpan(f *os.File, pos, size int64) (data, end int64, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	cerr := rc.Control(func(fd uintptr) {
		data, err = unix.Seek(int(fd), pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			data, end, err = size, size, nil
			return
		}
		if err == nil {
			end, err = unix.Seek(int(fd), data, unix.SEEK_HOLE)
		}
	})
	if cerr != nil || err != nil {
		return 0, 0, false
	}
	return data, end, true
}
