//go:build linux

package chunkmap_test

// Tests of chunk files that the system refuses to remove or write (chattr
// +i, which binds root too), while a writer has the dataset open.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// hfsChattr runs chattr with flag on path, skipping the test where the
// file system does not support it; the flag is cleared when the test ends.
func hfsChattr(t *testing.T, flag, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, path).CombinedOutput(); err != nil {
		t.Skipf("chattr %s %s: %v: %s", flag, path, err, out)
	}
	if flag[0] == '+' {
		t.Cleanup(func() { exec.Command("chattr", "-"+flag[1:], path).Run() })
	}
}

// TestHostileFS_TruncateUnremovableChunk makes a chunk file immutable, so
// that Truncate cannot delete it: Truncate must fail with ErrIO naming the
// file. The README says of ErrIO that the Manager stays usable: remove the
// cause and retry. Once the file is mutable again, growing the dataset
// back over the chunk's index (Append, Grow, WriteAt) must work in the same
// Manager, and the data must read back after a reopen.
func TestHostileFS_TruncateUnremovableChunk(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var md hfsModel
	data := pattern(1, 3*cs)
	writeAt(t, m, data, 0)
	md.write(data, 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, chunk.Name(2))
	hfsChattr(t, "+i", path)
	err = m.Truncate(cs)
	t.Logf("Truncate with %s immutable: %v", path, err)
	if err != nil {
		wantErrNaming(t, "Truncate", err, chunkmap.ErrIO, path)
	}
	md.truncate(m.Size()) // the new Size is in place either way
	hfsChattr(t, "-i", path)

	p := pattern(2, 2*cs)
	off, err := m.Append(p)
	if err != nil {
		t.Fatalf("Append over the chunk Truncate could not delete, once it can be: %v", err)
	}
	md.write(p, off)
	if err := m.Grow(3 * cs); err != nil {
		t.Fatalf("Grow: %v", err)
	}
	writeAt(t, m, []byte("tail"), md.size()+cs)
	md.write([]byte("tail"), md.size()+cs)
	md.check(t, m, "before reopening")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err = chunkmap.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	md.check(t, m, "after reopening")
}

// TestHostileFS_ImmutableManifest makes the manifest immutable while a
// writer has the dataset open, after a Sync: the next store to its state
// page faults, so the page cannot take a new Size, and a crash of the
// process would lose it. Every call that changes Size must then fail with
// ErrIO naming the manifest (not return nil, not claim the file was
// truncated), Sync too; once the file is mutable again, Sync and the
// calls work in the same Manager, and what they did is there after a
// reopen.
func TestHostileFS_ImmutableManifest(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	var md hfsModel
	appendModel := func(p []byte) error {
		t.Helper()
		off, err := m.Append(p)
		if err == nil || !errors.Is(err, chunkmap.ErrOutOfRange) {
			md.write(p, off) // written, and in Size in this process even if the page refused it
		}
		return err
	}
	if err := appendModel(pattern(1, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, chunkmap.ManifestName)
	hfsChattr(t, "+i", mpath)
	wantErrNaming(t, "Append with the manifest immutable", appendModel(pattern(2, 1000)), chunkmap.ErrIO, mpath)
	wantErrNaming(t, "Truncate with the manifest immutable", m.Truncate(1500), chunkmap.ErrIO, mpath)
	md.truncate(1500)
	err = m.Sync()
	wantErrNaming(t, "Sync with the manifest immutable", err, chunkmap.ErrIO, mpath)
	if errors.Is(err, chunkmap.ErrCorrupt) {
		t.Fatalf("Sync calls an immutable manifest corrupt: %v", err)
	}
	md.check(t, m, "with the manifest immutable")
	hfsChattr(t, "-i", mpath)
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync once the manifest is mutable again: %v", err)
	}
	if err := appendModel(pattern(3, 2*cs)); err != nil {
		t.Fatalf("Append once the manifest is mutable again: %v", err)
	}
	md.check(t, m, "once the manifest is mutable again")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err = chunkmap.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	md.check(t, m, "after reopening")
}

// TestHostileFS_ImmutableManifestKill runs a child that syncs, makes the
// manifest immutable, appends twice, reports which Appends returned nil,
// and kills itself with SIGKILL. A crash of the process must keep every
// Append that returned nil: after a reopen (the manifest mutable again)
// its bytes are there.
func TestHostileFS_ImmutableManifestKill(t *testing.T) {
	if args := hfsChild("immutable-manifest"); args != nil {
		immutableManifestChild(args[0])
		return
	}
	dir := t.TempDir()
	mpath := filepath.Join(dir, chunkmap.ManifestName)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileFS_ImmutableManifestKill$")
	cmd.Env = append(os.Environ(), hfsChildEnv+"=immutable-manifest,"+dir)
	out, _ := cmd.CombinedOutput()
	exec.Command("chattr", "-i", mpath).Run()
	if strings.Contains(string(out), "SKIP ") {
		t.Skipf("the child could not make the manifest immutable:\n%s", out)
	}
	var returned [][2]int64
	var reports int
	for _, l := range strings.Split(string(out), "\n") {
		var off, n int64
		var verdict string
		if _, err := fmt.Sscanf(l, "A %d %d %s", &off, &n, &verdict); err == nil {
			reports++
			if verdict == "nil" {
				returned = append(returned, [2]int64{off, n})
			}
		}
	}
	if reports != 3 {
		t.Fatalf("the child reported %d Appends, want 3:\n%s", reports, out)
	}
	m, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after the kill: %v", err)
	}
	defer m.Close()
	for _, a := range returned {
		got := make([]byte, a[1])
		if _, err := m.ReadAt(got, a[0]); err != nil || !bytes.Equal(got, pattern(uint64(a[0]), int(a[1]))) {
			t.Fatalf("an Append of %d bytes at %d returned nil before the kill, but after a reopen (Size %d) ReadAt: %v, equal %v",
				a[1], a[0], m.Size(), err, bytes.Equal(got, pattern(uint64(a[0]), int(a[1]))))
		}
	}
}

// immutableManifestChild is the child of TestHostileFS_ImmutableManifestKill.
func immutableManifestChild(dir string) {
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	appendOne := func() {
		off := m.Size()
		_, err := m.Append(pattern(uint64(off), 1000))
		verdict := "nil"
		if err != nil {
			verdict = "failed: " + err.Error()
		}
		fmt.Printf("A %d %d %s\n", off, 1000, verdict)
	}
	appendOne()
	if err := m.Sync(); err != nil {
		fmt.Println("sync:", err)
		os.Exit(2)
	}
	if out, err := exec.Command("chattr", "+i", filepath.Join(dir, chunkmap.ManifestName)).CombinedOutput(); err != nil {
		fmt.Printf("SKIP chattr: %v: %s\n", err, out)
		os.Exit(0)
	}
	appendOne()
	appendOne()
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
}
