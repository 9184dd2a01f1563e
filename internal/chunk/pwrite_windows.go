package chunk

import (
	"bytes"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// maxIO is the most one ReadFile or WriteFile is asked to move: their
// counts are 32-bit.
const maxIO = 1 << 30

// osFd returns the handle of f, as an int, for readOS, writeOS and fdLen,
// or -1 where f will not give it up.
func osFd(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(h uintptr) { fd = int(h) }) != nil {
		return -1
	}
	return fd
}

// readOS reads p from offset off of the chunk's operating system file, as
// os.File.ReadAt does (io.EOF if the file ends first), but with ReadFile
// on the handle and an OVERLAPPED of its own that gives the offset: the
// standard library's pread pins p for the system (internal/poll), which
// makes every caller's buffer escape to the heap, an allocation for each
// ReadAt of a Manager even when it hits a mapped chunk. The handle is
// synchronous (no file is opened with FILE_FLAG_OVERLAPPED), so ReadFile
// returns when the read is done; it moves the file pointer, which no
// chunk file uses. It stays valid meanwhile: a File is closed only once
// no call uses it.
func (c *File) readOS(osf *os.File, p []byte, off int64) (int, error) {
	if c.fd < 0 {
		// Through the standard library p would escape (see above): a
		// file without a handle reads into a copy.
		buf := make([]byte, len(p))
		n, err := osf.ReadAt(buf, off)
		copy(p, buf[:n])
		return n, err
	}
	return c.handleIO(osf, p, off, false)
}

// writeOS writes p at offset off of the chunk's operating system file
// with WriteFile, as readOS reads (and for the same reason), and returns
// the bytes written also when it fails part way.
func (c *File) writeOS(osf *os.File, p []byte, off int64) (int, error) {
	if c.fd < 0 {
		return osf.WriteAt(bytes.Clone(p), off) // see readOS
	}
	return c.handleIO(osf, p, off, true)
}

// handleIO is readOS (or writeOS, with write) on the File's handle. One
// function with a branch, rather than ReadFile or WriteFile passed in:
// p would escape through a call of a function value.
func (c *File) handleIO(osf *os.File, p []byte, off int64, write bool) (n int, err error) {
	for n < len(p) {
		at := off + int64(n)
		o := windows.Overlapped{Offset: uint32(at), OffsetHigh: uint32(at >> 32)}
		q := p[n : n+min(len(p)-n, maxIO)]
		var done uint32
		op := "read"
		if write {
			op = "write"
			err = windows.WriteFile(windows.Handle(c.fd), q, &done, &o)
		} else {
			err = windows.ReadFile(windows.Handle(c.fd), q, &done, &o)
		}
		n += int(done)
		switch {
		case !write && (err == windows.ERROR_HANDLE_EOF || err == nil && done == 0):
			return n, io.EOF
		case err != nil:
			return n, &fs.PathError{Op: op, Path: osf.Name(), Err: err}
		case done == 0:
			return n, &fs.PathError{Op: op, Path: osf.Name(), Err: io.ErrShortWrite}
		}
	}
	return n, nil
}

// fdLen returns the size of the chunk's file now, from
// GetFileInformationByHandle into a structure of its own, which allocates
// nothing (os.File.Stat allocates a FileInfo, and a pwrite asks the size
// before each write); ok is false where the File has no handle (see Len).
func (c *File) fdLen() (size int64, ok bool, err error) {
	if c.fd < 0 {
		return 0, false, nil
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(c.fd), &info); err != nil {
		return 0, true, os.NewSyscallError("GetFileInformationByHandle", err)
	}
	return int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow), true, nil
}
