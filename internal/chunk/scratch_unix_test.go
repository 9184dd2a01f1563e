//go:build unix

package chunk

import (
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
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
		wg.Go(func() { files[i], errs[i] = createThenUnlink(dir, 7, 0o600) })
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
