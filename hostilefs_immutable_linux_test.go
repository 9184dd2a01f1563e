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
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
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

// skipUnlessImmutableStoreFaults skips t where the file system of dir lets
// a store through a shared mapping into a file made immutable after it
// was written back: ext4 refuses it (a fault), but xfs, ext2 and tmpfs
// take it, so there the manifest's state page takes every new Size and
// nothing fails.
func skipUnlessImmutableStoreFaults(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "immutable-probe")
	if err := os.WriteFile(path, make([]byte, os.Getpagesize()), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // written back: the next store faults in
		t.Fatal(err)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, os.Getpagesize(), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	_ = b[0] // mapped for reading only
	hfsChattr(t, "+i", path)
	defer exec.Command("chattr", "-i", path).Run()
	faulted := func() (faulted bool) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { faulted = recover() != nil }()
		b[0] = 1
		return false
	}()
	if !faulted {
		t.Skip("this file system lets a store through a mapping into an immutable file in (ext4 refuses it): the manifest's state page takes every change")
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
// process would lose it. That call must fail with ErrIO naming the
// manifest (not return nil, not claim the file was truncated), and every
// later call that would change Size, and Sync, must be refused the same
// way with nothing done; once the file is mutable again, Sync and the
// calls work in the same Manager, and what they did is there after a
// reopen.
func TestHostileFS_ImmutableManifest(t *testing.T) {
	skipImmutableUnderRace(t)
	dir := t.TempDir()
	skipUnlessImmutableStoreFaults(t, dir)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	var md hfsModel
	// appendModel appends p; made says whether the Append makes its
	// change in this process even if it fails (the page refused it after
	// the write) or, failing, makes none (refused first).
	appendModel := func(p []byte, made bool) error {
		t.Helper()
		off, err := m.Append(p)
		if err == nil || made {
			md.write(p, off)
		}
		return err
	}
	if err := appendModel(pattern(1, 1000), true); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, chunkmap.ManifestName)
	hfsChattr(t, "+i", mpath)
	wantErrNaming(t, "Append with the manifest immutable", appendModel(pattern(2, 1000), true), chunkmap.ErrIO, mpath)
	// Refused with nothing done: the page cannot take the new Size.
	wantErrNaming(t, "Truncate with the manifest immutable", m.Truncate(1500), chunkmap.ErrIO, mpath)
	wantErrNaming(t, "Append with the manifest still immutable", appendModel(pattern(4, 10), false), chunkmap.ErrIO, mpath)
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
	if err := appendModel(pattern(3, 2*cs), true); err != nil {
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
	skipImmutableUnderRace(t)
	if args := hfsChild("immutable-manifest"); args != nil {
		immutableManifestChild(args[0])
		return
	}
	dir := t.TempDir()
	out := runImmutableChild(t, "TestHostileFS_ImmutableManifestKill", "immutable-manifest", dir)
	var returned [][2]int64
	var reports int
	for _, l := range strings.Split(out, "\n") {
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

// skipImmutableUnderRace skips a test whose state page faults on a store
// while the race detector is on: its atomic operations run in the race
// runtime's own code, where a fault cannot be turned into a panic
// (SetPanicOnFault covers Go code only), so the process dies. Builds
// without the race detector catch the fault and return ErrIO.
func skipImmutableUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("a fault inside the race detector's atomics cannot be recovered")
	}
}

// TestHostileFS_ImmutableManifestTruncateKill runs a child whose state
// page holds Size 3 chunks and whose newest record a smaller Size (so a
// Truncate to one chunk writes no record), makes the manifest immutable
// with its page written back, truncates to one chunk, and kills itself.
// The page cannot take the new Size, so Truncate must not delete the
// chunks the page still names: Open after the kill must succeed, with the
// old Size, or the new one if Truncate returned nil.
func TestHostileFS_ImmutableManifestTruncateKill(t *testing.T) {
	skipImmutableUnderRace(t)
	if args := hfsChild("immutable-truncate"); args != nil {
		immutableTruncateChild(args[0])
		return
	}
	dir := t.TempDir()
	out := runImmutableChild(t, "TestHostileFS_ImmutableManifestTruncateKill", "immutable-truncate", dir)
	var verdict string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Truncate: "); ok {
			verdict = v
		}
	}
	if verdict == "" {
		t.Fatalf("the child did not get to Truncate:\n%s", out)
	}
	m, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after the kill (Truncate returned %s): %v", verdict, err)
	}
	defer m.Close()
	want := int64(3 * cs)
	if verdict == "<nil>" {
		want = cs
	}
	if m.Size() != want {
		t.Fatalf("Size %d after the kill (Truncate returned %s), want %d", m.Size(), verdict, want)
	}
	got := make([]byte, want-100)
	if _, err := m.ReadAt(got, 100); err != nil || !bytes.Equal(got, pattern(2, 3*cs-100)[:want-100]) {
		t.Fatalf("after the kill ReadAt: %v, bytes equal %v", err, bytes.Equal(got, pattern(2, 3*cs-100)[:want-100]))
	}
}

// immutableTruncateChild is the child of
// TestHostileFS_ImmutableManifestTruncateKill.
func immutableTruncateChild(dir string) {
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err == nil {
		_, err = m.Append(pattern(1, 100))
	}
	if err == nil {
		err = m.Sync()
	}
	if err == nil {
		_, err = m.Append(pattern(2, 3*cs-100))
	}
	if err != nil {
		fmt.Println("setup:", err)
		os.Exit(2)
	}
	// Writes the state page back, so that the next store to it faults
	// once the file is immutable.
	mpath := filepath.Join(dir, chunkmap.ManifestName)
	if f, err := os.Open(mpath); err == nil {
		f.Sync()
		f.Close()
	}
	if out, err := exec.Command("chattr", "+i", mpath).CombinedOutput(); err != nil {
		fmt.Printf("SKIP chattr: %v: %s\n", err, out)
		os.Exit(0)
	}
	fmt.Printf("Truncate: %v\n", m.Truncate(cs))
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

// TestHostileFS_DropBeforeAfterPageBroke lets Appends fail while the
// manifest is immutable (their Size is in this process, not in the page),
// makes it mutable again, and drops chunks: the page must hold the
// current Start and Size before the first chunk file goes, so that a
// crash at that moment leaves a dataset Open accepts. The directory is
// copied as it stands when DropBefore removes its first file, and opened.
func TestHostileFS_DropBeforeAfterPageBroke(t *testing.T) {
	skipImmutableUnderRace(t)
	dir, snap := t.TempDir(), t.TempDir()
	skipUnlessImmutableStoreFaults(t, dir)
	mpath := filepath.Join(dir, chunkmap.ManifestName)
	copied := false
	o := &chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(o, removeHookFS{vfs.OS, func(path string) {
		if copied || !strings.HasSuffix(path, ".chunk") {
			return
		}
		copied = true
		// What a crash at this instant leaves: the page cache as it is.
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Error(err)
			return
		}
		for _, e := range es {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
				t.Error(err)
			} else if err := os.WriteFile(filepath.Join(snap, e.Name()), b, 0o644); err != nil {
				t.Error(err)
			}
		}
	}})
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(pattern(1, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	hfsChattr(t, "+i", mpath)
	if _, err := m.Append(pattern(2, 6*cs)); !errors.Is(err, chunkmap.ErrIO) {
		t.Fatalf("Append with the manifest immutable: %v, want ErrIO", err)
	}
	hfsChattr(t, "-i", mpath)
	if err := m.DropBefore(4 * cs); err != nil {
		t.Fatalf("DropBefore once the manifest is mutable again: %v", err)
	}
	if !copied {
		t.Fatal("DropBefore removed no chunk file")
	}
	r, err := chunkmap.Open(snap, nil)
	if err != nil {
		t.Fatalf("Open of the directory as a crash during DropBefore's removals leaves it: %v", err)
	}
	defer r.Close()
	if r.Size() != 6*cs+1000 {
		t.Fatalf("Size %d in the directory as a crash during DropBefore leaves it, want %d", r.Size(), 6*cs+1000)
	}
}

// runImmutableChild runs test in a child process as role on dir, makes
// dir's manifest mutable again once the child has died, and returns what
// the child printed; it skips the test if the child could not make the
// manifest immutable.
func runImmutableChild(t *testing.T, test, role, dir string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), hfsChildEnv+"="+role+","+dir)
	out, _ := cmd.CombinedOutput()
	exec.Command("chattr", "-i", filepath.Join(dir, chunkmap.ManifestName)).Run()
	if strings.Contains(string(out), "SKIP ") {
		t.Skipf("the child could not make the manifest immutable:\n%s", out)
	}
	return string(out)
}

// TestHostileFS_OpenLeavesUnremovableLeftovers makes a chunk file below
// Start (left by a DropBefore that could not delete it) and one wholly
// past Size (left by a Truncate) immutable, and reopens the dataset. Open
// removes such leftovers, but they hold nothing of the dataset: one it
// cannot remove must not refuse the dataset. Open must succeed with every
// byte in [Start, Size) intact, leave the files for a later Open, and
// growth back over the one past Size must work once it is mutable again.
func TestHostileFS_OpenLeavesUnremovableLeftovers(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(3, 4*cs)
	writeAt(t, m, data, 0)
	below, past := filepath.Join(dir, chunk.Name(0)), filepath.Join(dir, chunk.Name(3))
	hfsChattr(t, "+i", below)
	hfsChattr(t, "+i", past)
	if err := m.DropBefore(cs); !errors.Is(err, chunkmap.ErrIO) {
		t.Fatalf("DropBefore over an immutable chunk file = %v, want ErrIO", err)
	}
	if err := m.Truncate(3 * cs); !errors.Is(err, chunkmap.ErrIO) {
		t.Fatalf("Truncate over an immutable chunk file = %v, want ErrIO", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open with unremovable leftovers below Start and past Size: %v", err)
	}
	defer m.Close()
	if m.Start() != cs || m.Size() != 3*cs {
		t.Fatalf("Start, Size = %d, %d, want %d, %d", m.Start(), m.Size(), cs, 3*cs)
	}
	if got := readAt(t, m, cs, 2*cs); !bytes.Equal(got, data[cs:3*cs]) {
		t.Fatalf("bytes differ at %d", cs+int64(firstDiff(got, data[cs:3*cs])))
	}
	for _, p := range []string{below, past} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v (Open cannot have removed it)", p, err)
		}
	}
	hfsChattr(t, "-i", past)
	tail := pattern(4, cs)
	if off, err := m.Append(tail); err != nil || off != 3*cs {
		t.Fatalf("Append over the leftover past Size = %d, %v", off, err)
	}
	if got := readAt(t, m, 3*cs, cs); !bytes.Equal(got, tail) {
		t.Fatal("the appended chunk reads the leftover's bytes")
	}
}

// TestHostileFS_OpenImmutableManifest: a read-write Open opens the manifest
// for writing at once, and where the system refuses that (the file made
// immutable), it still checks the dataset first, reading the manifest,
// and reports damage before the refusal: a dataset with a chunk missing is
// ErrCorrupt, an intact one ErrIO (EPERM) naming the manifest, and neither
// Open changes the directory (its leftover temporary file stays). A
// ReadOnly Open, which writes nothing, works.
func TestHostileFS_OpenImmutableManifest(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(5, 3*cs)
	writeAt(t, m, data, 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, chunkmap.ManifestName)
	temp := filepath.Join(dir, chunk.Name(7)+".tmp")
	if !chunk.IsTemp(filepath.Base(temp)) {
		t.Fatalf("%s is not a temporary chunk name", temp)
	}
	if err := os.WriteFile(temp, []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	hfsChattr(t, "+i", mpath)

	wantErrNaming(t, "read-write Open of an intact dataset, manifest immutable", func() error {
		m, err := chunkmap.Open(dir, nil)
		if err == nil {
			m.Close()
		}
		return err
	}(), chunkmap.ErrIO, mpath)

	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("ReadOnly Open with the manifest immutable: %v", err)
	}
	got := make([]byte, len(data))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadOnly read back: err %v, equal %v", err, bytes.Equal(got, data))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	middle := filepath.Join(dir, chunk.Name(1))
	if err := os.Rename(middle, middle+".away"); err != nil {
		t.Fatal(err)
	}
	_, err = chunkmap.Open(dir, nil)
	if !errors.Is(err, chunkmap.ErrCorrupt) || !strings.Contains(err.Error(), middle) {
		t.Errorf("read-write Open with a chunk missing, manifest immutable = %v, want ErrCorrupt naming %s", err, middle)
	}
	if _, err := os.Stat(temp); err != nil {
		t.Errorf("a refused Open changed the directory: %v", err)
	}
}
