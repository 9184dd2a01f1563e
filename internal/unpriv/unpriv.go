// Package unpriv runs a test as a user who is not root, also where the
// tests run as root (as in CI, which would otherwise skip every test of
// what a real user meets: a directory it may not write, a file another
// user owns).
//
// It is for tests only:
//
//	func TestX(t *testing.T) {
//		if unpriv.Run(t) {
//			return // ran as uid 65534 in a child process
//		}
//		... // runs as a user who is not root
//	}
package unpriv

import (
	"os"
	"testing"
)

// UID and GID are the user and group a test runs as where the process is
// root: nobody and nogroup on Linux.
const (
	UID = 65534
	GID = 65534
)

// env marks a re-executed test binary, naming the test it runs.
const env = "CHUNKMAP_TEST_UNPRIVILEGED"

// Run makes t run as a user who is not root. Where the process is not root
// (or not on Unix) it returns false, and t goes on in this process. As root,
// it runs t alone again in a child process of the test binary as UID and
// GID, with a temporary directory and home of that user's, reports the
// child's outcome as t's (its output when it fails, its reason when it
// skips), and returns true: t must then return at once. It skips t where
// the child could not reach its files (a temporary directory other users
// may not search).
func Run(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	if os.Getenv(env) != "" {
		t.Fatal("unpriv: the child process runs as root: permissions would not apply")
	}
	runChild(t)
	return true
}

// Reachable returns a new temporary directory of t's (mode 0o755) that UID
// may reach, for a test that runs as root to set up, before Run, what the
// child then meets: files of another user than the child's. Off Unix it
// is t.TempDir.
func Reachable(t *testing.T) string {
	t.Helper()
	return reachable(t)
}
