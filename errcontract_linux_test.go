package chunkmap_test

// The error contract (errcontract_test.go) for failures that need Linux: a
// full file system (a small tmpfs, which needs root) and a process out of
// file descriptors (RLIMIT_NOFILE).

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestErrorContract_FullDisk fills a 256 KiB tmpfs: three chunks and the
// manifest fit, a fourth chunk's blocks do not.
func TestErrorContract_FullDisk(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		// Detached: a closed Manager's mappings go only once it is
		// unreachable (see releaseArenaLocked).
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	dir := filepath.Join(mnt, "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: ecChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	full := make([]byte, ecChunk)
	var off int64
	for ; off < 8*ecChunk; off += ecChunk {
		if _, err := m.WriteAt(full, off); err != nil {
			checkShape(t, err, shape{want: chunkmap.ErrNoSpace, also: syscall.ENOSPC, op: "write",
				n: "65536 bytes", off: "at offset " + itoa(off), paths: []string{dir}})
			break
		}
	}
	if off == 8*ecChunk {
		t.Fatalf("wrote %d bytes to a 256 KiB tmpfs", off)
	}
	runCases(t, []ecCase{
		{"Grow", func() error { return m.Grow(ecChunk) },
			shape{want: chunkmap.ErrNoSpace, also: syscall.ENOSPC, op: "grow", n: "65536 bytes", off: "at offset " + itoa(off), paths: []string{dir}}},
		{"Append", func() error { _, err := m.Append(full); return err },
			shape{want: chunkmap.ErrNoSpace, also: syscall.ENOSPC, op: "append", n: "65536 bytes", off: "at offset " + itoa(off), paths: []string{dir}}},
	})
	// Nothing changed, and what was written is still there.
	if got := m.Size(); got != off {
		t.Errorf("Size after the failures = %d, want %d", got, off)
	}
}

// TestErrorContract_TooManyFiles runs calls in a process that has no file
// descriptor to spare.
func TestErrorContract_TooManyFiles(t *testing.T) {
	m, dir := ecDataset(t, chunkmap.Options{MaxMapped: 8, NoAdmission: true}, 3*ecChunk)
	// A Manager refused a descriptor gives back the files it can (its
	// cache of open files, its idle mappings) and tries again: for the
	// read to meet the refusal, it has none to give. Opened anew, its
	// cache is empty, and pins hold its mapped chunks.
	o := chunkmap.Options{MaxMapped: 8, NoAdmission: true}
	m = reopen(t, m, &o)
	for c := range int64(2) {
		p, err := m.Pin(c*ecChunk, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
	}
	w, other := ecDataset(t, chunkmap.Options{}, 100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4)
	var errs struct{ open, remove, read error }
	withoutFiles(t, func() {
		_, errs.open = chunkmap.Open(other, nil)
		errs.remove = chunkmap.Remove(other)
		_, errs.read = m.ReadAt(p, 2*ecChunk+12)
	})
	emfile := func(op, n, off string, paths ...string) shape {
		return shape{want: chunkmap.ErrIO, also: syscall.EMFILE, op: op, n: n, off: off, paths: paths}
	}
	checkShape(t, errs.open, emfile("open", "", "", other))
	checkShape(t, errs.remove, emfile("remove", "", "", other))
	checkShape(t, errs.read, emfile("read", "4 bytes", "at offset 131084", filepath.Join(dir, chunk.Name(2))))
}

// TestErrorContract_OpenShortOfFiles opens a dataset with one more
// descriptor to spare each time, so that each of Open's opens in turn is
// the one refused, and checks that every refusal names the directory once.
// An os.OpenRoot refused for want of descriptors came back joined twice
// (errors.Join), which hid its path from the check that drops a path the
// message already names: "open DIR: chunkmap: I/O error: open DIR: too
// many open files".
func TestErrorContract_OpenShortOfFiles(t *testing.T) {
	w, dir := ecDataset(t, chunkmap.Options{}, 100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for spare := 0; ; spare++ {
		if spare == 32 {
			t.Fatal("Open still refused with 32 descriptors to spare")
		}
		var m *chunkmap.Manager
		var err error
		withSpareFiles(t, spare, func() { m, err = chunkmap.Open(dir, nil) })
		if err == nil {
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("Open succeeded with %d descriptors to spare", spare)
			return
		}
		t.Logf("%d to spare: %v", spare, err)
		if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EMFILE) {
			t.Errorf("%d to spare: %v, want ErrIO and EMFILE", spare, err)
		}
		if n := strings.Count(err.Error(), dir); n != 1 {
			t.Errorf("%d to spare: %q names %s %d times, want once", spare, err, dir, n)
		}
		// What was refused is named ("lock: ", "open the directory: ",
		// "list the directory: "): a listing refused said only "too many
		// open files", and the directory's own handle "open: ".
		if _, what, _ := strings.Cut(err.Error(), chunkmap.ErrIO.Error()+": "); !strings.Contains(what, ": ") || strings.HasPrefix(what, "open: ") {
			t.Errorf("%d to spare: %q does not say what was refused", spare, err)
		}
	}
}

// withoutFiles runs fn with every file descriptor the process may open in
// use, then frees them.
func withoutFiles(t *testing.T, fn func()) {
	t.Helper()
	withSpareFiles(t, 0, fn)
}

// withSpareFiles runs fn with all but spare of the file descriptors the
// process may open in use, then frees them.
func withSpareFiles(t *testing.T, spare int, fn func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("count open files: %v", err)
	}
	lim := old
	lim.Cur = min(old.Cur, uint64(len(open)+64))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	}()
	var fds []int
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EMFILE {
			break
		}
		if err != nil {
			t.Fatalf("open /dev/null: %v", err)
		}
		fds = append(fds, fd)
	}
	for ; spare > 0 && len(fds) > 0; spare-- {
		syscall.Close(fds[len(fds)-1])
		fds = fds[:len(fds)-1]
	}
	fn()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
