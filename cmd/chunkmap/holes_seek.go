//go:build linux || darwin || freebsd

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// dataSpan returns where, in the file f, the first data at or after pos
// begins and where the data there ends (the next hole, or the file's end),
// as lseek's SEEK_DATA and SEEK_HOLE tell. No data at or after pos (ENXIO)
// gives the file's size for both. ok is false where the file system cannot
// tell (EINVAL) or the call fails otherwise, and the caller then reads the
// bytes: a file system that keeps no holes, or one whose extent map cannot
// be read, loses nothing that way.
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
