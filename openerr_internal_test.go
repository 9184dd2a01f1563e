package chunkmap

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// TestOpenErr_KeepsTheOperation: Open's error drops a *fs.PathError's
// path where it is the directory Open names already, but keeps its
// operation, which says what was refused: "mkdir: permission denied"
// where it said "permission denied" alone. (A non-root user meets these;
// root, which runs CI, does not.)
func TestOpenErr_KeepsTheOperation(t *testing.T) {
	const dir = "/srv/data"
	for _, tc := range []struct {
		err      error
		want     string
		sentinel error
		cause    error
	}{
		{&fs.PathError{Op: "mkdir", Path: dir, Err: syscall.EACCES}, "open /srv/data: chunkmap: I/O error: mkdir: permission denied", ErrIO, fs.ErrPermission},
		{&fs.PathError{Op: "open", Path: dir, Err: syscall.EACCES}, "open /srv/data: chunkmap: I/O error: open: permission denied", ErrIO, fs.ErrPermission},
		// The platform's own errno for a full disk (ERROR_DISK_FULL on
		// Windows, which never returns ENOSPC).
		{errors.Join(&fs.PathError{Op: "mkdir", Path: dir, Err: testSpaceErrno}), "open /srv/data: chunkmap: not enough free disk space: mkdir: " + testSpaceErrno.Error(), ErrNoSpace, testSpaceErrno},
		// A path other than dir is the message's to name, with its
		// operation.
		{&fs.PathError{Op: "open", Path: dir + "/MANIFEST", Err: syscall.EACCES}, "open /srv/data: chunkmap: I/O error: open /srv/data/MANIFEST: permission denied", ErrIO, fs.ErrPermission},
		// Errors that are no PathError stay as they are.
		{fmt.Errorf("lock: %w", syscall.EACCES), "open /srv/data: chunkmap: I/O error: lock: permission denied", ErrIO, fs.ErrPermission},
	} {
		got := openErr(dir, tc.err)
		if got.Error() != tc.want {
			t.Errorf("openErr(%q, %v):\n got %q\nwant %q", dir, tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.sentinel) || !errors.Is(got, tc.cause) {
			t.Errorf("openErr(%q, %v) = %v: does not match %v and %v", dir, tc.err, got, tc.sentinel, tc.cause)
		}
	}
}
