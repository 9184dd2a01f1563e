//go:build unix

package chunk

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestCreateThenUnlink: where a scratch chunk must be created by name and
// unlinked (no O_TMPFILE), concurrent creations of the same chunk index in
// one directory, as two scratch datasets sharing it would make, all
// succeed, each with a file of its own, and leave no name behind.
func TestCreateThenUnlink(t *testing.T) {
	dir := t.TempDir()
	const n = 32
	files := make([]*os.File, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { files[i], errs[i] = createThenUnlink(vfs.OS, dir, 7, 0o600) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creation %d of %d: %v", i, n, errs[i])
		}
		defer files[i].Close()
		if _, err := files[i].WriteAt([]byte{byte(i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		b := make([]byte, 1)
		if _, err := files[i].ReadAt(b, 0); err != nil || b[0] != byte(i) {
			t.Errorf("file %d reads %v (%v): the files are not each its own", i, b, err)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("%d names left in the directory (%v)", len(entries), err)
	}
}

// TestIsTemp_ScratchName: a scratch chunk's name of an instant is a
// temporary chunk name (a writer's Open removes it after a crash), and so
// is version 0.1.0's; near misses are not.
func TestIsTemp_ScratchName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{scratchName(7, 0xdeadbeef), true},
		{scratchName(0, 0), true},
		{Name(7) + tempSuffix, true},
		{Name(7), false},
		{Name(7) + ".deadbeef", false},
		{Name(7) + ".deadbeeg" + tempSuffix, false},
		{Name(7) + ".DEADBEEF" + tempSuffix, false},
		{Name(7) + ".deadbee" + tempSuffix, false},
		{"000000000000007.chunk.deadbeef" + tempSuffix, false},
		{"MANIFEST.tmp", false},
	} {
		if got := IsTemp(tc.name); got != tc.want {
			t.Errorf("IsTemp(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDupFileCloseOnExec: the second descriptor of a scratch chunk is
// close-on-exec from the moment it exists, so a program that starts another
// does not hand it the scratch file.
func TestDupFileCloseOnExec(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "scratch")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := dupFile(f)
	if err != nil {
		t.Fatalf("dupFile: %v", err)
	}
	defer d.Close()
	if d.Fd() == f.Fd() {
		t.Fatalf("dupFile returned the same descriptor %d", d.Fd())
	}
	flags, err := unix.FcntlInt(d.Fd(), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("descriptor %d from dupFile is not close-on-exec (flags %#x)", d.Fd(), flags)
	}
}

// TestCreateScratch_ErrorNamesNoTempFile: where O_TMPFILE fails for a
// reason other than its lack (a directory gone, no descriptor free), the
// creation of a scratch chunk fails with that error. It went on to create
// the file under a temporary name of its own, which failed the same way,
// so the error named a file that never existed ("open
// .../0000000000000003.chunk.8e3d9ed1.tmp: too many open files") instead
// of the directory the system refused.
func TestCreateScratch_ErrorNamesNoTempFile(t *testing.T) {
	if _, err := openTmpfile(vfs.OS, t.TempDir(), 0o600); err != nil {
		t.Skipf("no O_TMPFILE here (%v): the named fallback is the only way", err)
	}
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{name: "dir-missing", dir: func(t *testing.T) string { return filepath.Join(t.TempDir(), "gone") }},
		{name: "dir-a-file", dir: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			f, err := CreateScratch(vfs.OS, dir, 3, 64<<10, 0o600)
			if err == nil {
				f.Close()
				t.Fatalf("CreateScratch in %s succeeded", dir)
			}
			if strings.Contains(err.Error(), tempSuffix) {
				t.Errorf("CreateScratch in %s = %v: names a temporary file that was never made", dir, err)
			}
		})
	}
}
