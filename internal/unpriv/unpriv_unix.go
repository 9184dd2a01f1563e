//go:build unix

package unpriv

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runChild runs t in a child process as UID and GID and reports the
// outcome.
func runChild(t *testing.T) {
	t.Helper()
	base := reachable(t)
	// Only the test's own directories are opened up, not those above
	// them: where t.TempDir puts them (GOTMPDIR, or TMPDIR) is the
	// user's to open.
	for d := filepath.Dir(filepath.Dir(base)); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("unpriv: %s may not be searched by other users, so uid %d cannot reach the test's files", d, UID)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	exe := filepath.Join(base, "test.bin")
	if err := linkOrCopy(exe); err != nil {
		t.Fatalf("unpriv: the test binary: %v", err)
	}
	tmp := filepath.Join(base, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatalf("unpriv: %v", err)
	}
	if err := os.Chown(tmp, UID, GID); err != nil {
		t.Fatalf("unpriv: %v", err)
	}

	args := []string{"-test.run=" + runPattern(t.Name()), "-test.count=1", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	if dl, ok := t.Deadline(); ok {
		// At least a second: -test.timeout=0s means no limit at all.
		args = append(args, "-test.timeout="+max(time.Until(dl), time.Second).Round(time.Second).String())
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(),
		env+"="+t.Name(),
		"TMPDIR="+tmp,
		// testing puts t.TempDir in GOTMPDIR rather than TMPDIR
		// where it is set: the parent's is no directory of the
		// child's to write in.
		"GOTMPDIR="+tmp,
		"HOME="+tmp,
		// Coverage data would go to a directory the child may not write.
		"GOCOVERDIR=",
		// Without the race detector's second of sleep at exit.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: UID, Gid: GID, Groups: []uint32{}}}
	b, err := cmd.CombinedOutput()
	out := string(b)
	switch {
	case err == nil && strings.Contains(out, "--- PASS: "+t.Name()+" ("):
		t.Logf("unpriv: passed as uid %d in a child process", UID)
	case err == nil && strings.Contains(out, "--- SKIP: "+t.Name()+" ("):
		t.Skipf("unpriv: skipped as uid %d in a child process:\n%s", UID, out)
	default:
		t.Fatalf("unpriv: as uid %d in a child process (%v):\n%s", UID, err, out)
	}
}

// reachable returns a new temporary directory of t's that UID may search
// and read: t.TempDir's parent is made 0o700, so both are opened up, and
// only they. Walking up to os.TempDir instead opened up every directory
// above the test's where t.TempDir is not under that name as written
// (GOTMPDIR, which testing prefers; a TMPDIR with a trailing slash): the
// system's /tmp made 0o755, or the home holding a GOTMPDIR.
func reachable(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("unpriv: %v", err)
		}
	}
	return base
}

// runPattern returns the -test.run pattern that selects the test or
// subtest named name and nothing else.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// linkOrCopy puts the running test binary at path, where the child may
// run it: the directory go test builds it in is root's alone. A hard link
// costs nothing; a copy is made across file systems.
func linkOrCopy(path string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if os.Link(exe, path) == nil {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o005 == 0o005 {
			return nil
		}
		os.Remove(path)
	}
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	return errors.Join(err, dst.Close())
}
