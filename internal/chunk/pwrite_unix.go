//go:build unix

package chunk

import (
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// osFd returns the descriptor of f for writeOS, or -1 where f is not an
// operating system file or will not give it up.
func osFd(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(d uintptr) { fd = int(d) }) != nil {
		return -1
	}
	return fd
}

// readOS reads p from offset off of the chunk's operating system file, as
// os.File.ReadAt does.
func (c *File) readOS(osf *os.File, p []byte, off int64) (int, error) {
	return osf.ReadAt(p, off)
}

// writeOS writes p at offset off of the chunk's operating system file with
// pwrite, and returns the bytes written also when it fails part way:
// os.File.WriteAt reports none of them then, although a pwrite cut short by
// a full disk or RLIMIT_FSIZE has stored a prefix of p (and the next one
// failed), and a caller must count what changed. The descriptor stays
// valid meanwhile: a File is closed only once no call uses it.
func (c *File) writeOS(osf *os.File, p []byte, off int64) (n int, err error) {
	if c.fd < 0 {
		return osf.WriteAt(p, off)
	}
	for n < len(p) {
		k, err := unix.Pwrite(c.fd, p[n:], off+int64(n))
		if k > 0 {
			n += k
		}
		switch {
		case err == unix.EINTR:
		case err != nil:
			return n, &fs.PathError{Op: "write", Path: osf.Name(), Err: err}
		case k == 0:
			return n, &fs.PathError{Op: "write", Path: osf.Name(), Err: io.ErrShortWrite}
		}
	}
	return n, nil
}

// fdLen returns the size of the chunk's operating system file now, by
// fstat into a Stat_t of its own, which allocates nothing; ok is false
// where the File has no descriptor (see Len).
func (c *File) fdLen() (size int64, ok bool, err error) {
	if c.fd < 0 {
		return 0, false, nil
	}
	var st unix.Stat_t
	for {
		err := unix.Fstat(c.fd, &st)
		if err == unix.EINTR {
			continue
		}
		return st.Size, true, err
	}
}
