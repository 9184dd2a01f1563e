//go:build linux

package chunkmap_test

// A host program may start children at any moment (os/exec), from any
// goroutine: a descriptor of the library's that a child inherits keeps the
// dataset's directory lock (an flock belongs to the open file description)
// and its files open for as long as the child lives, so every descriptor
// must be close-on-exec from the call that makes it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
)

// TestCloexec_ChildrenInheritNoDatasetFile opens a writer, a follower and
// a Scratch Manager, with chunks mapped, evicted (their files cached for
// pread) and made ahead of growth, and checks that each descriptor the
// process has of a file in their directories (the directory itself, the
// lock, the manifest, chunk files, unnamed scratch files) is close-on-exec,
// and that a child started now has none of them.
func TestCloexec_ChildrenInheritNoDatasetFile(t *testing.T) {
	dir, sdir := t.TempDir(), t.TempDir()
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	s, err := chunkmap.Open(sdir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, x := range []*chunkmap.Manager{m, s} {
		if _, err := x.Append(pattern(1, 16*cs)); err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 8)
		for i := range 16 {
			readAt(t, x, int64(i)*cs, len(p))
		}
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	r := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
	for i := range 16 {
		readAt(t, r, int64(i)*cs, 8)
	}

	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	ours := 0
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasPrefix(l, dir) && !strings.HasPrefix(l, sdir) {
			continue
		}
		ours++
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err != nil {
			t.Fatal(err)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // closed since the listing
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("descriptor %d of %s is not close-on-exec", fd, l)
		}
	}
	if ours < 6 {
		t.Errorf("found %d descriptors of the datasets' files, want the directories, manifests and chunk files", ours)
	}

	out, err := exec.Command("/bin/sh", "-c", "ls -l /proc/$$/fd").CombinedOutput()
	if err != nil {
		t.Fatalf("listing a child's descriptors: %v\n%s", err, out)
	}
	for l := range strings.Lines(string(out)) {
		if strings.Contains(l, dir) || strings.Contains(l, sdir) {
			t.Errorf("a child inherited: %s", strings.TrimSpace(l))
		}
	}
}
