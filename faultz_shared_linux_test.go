//go:build linux

package chunkmap_test

// Shared pieces of the faultz_* tests: faults injected from outside the
// Manager (chunk files and the MANIFEST truncated, removed or replaced;
// full tmpfs mounts; RLIMIT_FSIZE; permissions) and the checks every
// faulted call must pass: it returns in time, without a panic, with an
// error that matches the sentinel the README's error table names, and
// whose message names the operation first and the file and the offset
// once.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

const (
	// fzCS is the chunk size of every faultz dataset: the smallest, so
	// that a few chunks fit a tiny tmpfs.
	fzCS = int64(chunkmap.MinChunkSize)
	// fzCallLimit is how long one call under a fault may take before it
	// counts as hung: a watchdog, generous because under -race beside the
	// rest of CI a call can take seconds that takes milliseconds alone.
	fzCallLimit = 20 * time.Second
	// fzChildEnv names the role of a re-executed test binary.
	fzChildEnv = "FAULTZ_CHILD"
	// fzSeedEnv replays a randomized faultz test.
	fzSeedEnv = "FAULTZ_SEED"
)

// fzNeedRoot skips t unless the process runs as root (mounts, owners and
// limits need it).
func fzNeedRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts tmpfs file systems, changes owners and limits")
	}
}

// fzIsChild reports whether this process is a re-executed child in the
// given role.
func fzIsChild(role string) bool { return os.Getenv(fzChildEnv) == role }

// fzSkipInChild skips t in any re-executed child, so that a child runs
// only the test it was started for.
func fzSkipInChild(t *testing.T) {
	if os.Getenv(fzChildEnv) != "" {
		t.Skip("runs in the parent process only")
	}
}

// fzStacks returns the stacks of every goroutine.
func fzStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// fzDo runs fn, which makes one call under a fault, and fails t if the call
// panics. A call that does not return within fzCallLimit is a hang: fzDo
// then panics with every goroutine's stack, which ends the test binary
// instead of leaving it blocked.
func fzDo(t *testing.T, what string, fn func()) {
	type result struct {
		panicked bool
		val      any
		stack    string
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				buf := make([]byte, 64<<10)
				done <- result{true, r, string(buf[:runtime.Stack(buf, false)])}
			}
		}()
		fn()
		done <- result{}
	}()
	select {
	case r := <-done:
		if r.panicked {
			t.Errorf("%s panicked: %v\n%s", what, r.val, r.stack)
		}
	case <-time.After(fzCallLimit):
		panic(fmt.Sprintf("%s: %s did not return within %v (hang); goroutines:\n%s", t.Name(), what, fzCallLimit, fzStacks()))
	}
}

// fzMsg describes what an error's message must name: the operation it must
// start with, the files it must name exactly once (by their path, or by
// their name after the directory), the other names ("offset N") it must
// hold exactly once; and " at offset " may appear once, never twice.
type fzMsg struct {
	op    string
	files []string
	names []string
	// anyChunk: the message names exactly one chunk file (which one is
	// the library's choice, as for growth over several chunks).
	anyChunk bool
	// wrapped: the error wraps one of another call (a scan's read), whose
	// offset it may repeat; TestFaultz_ScanErrorNamesOffsetOnce checks
	// that separately.
	wrapped bool
}

// fzCheck reports on t whether err is an error matching want whose message
// starts with the operation and names each of the names exactly once, and
// no offset twice. It returns whether err matched want.
func fzCheck(t *testing.T, what string, err, want error, m fzMsg) bool {
	if err == nil {
		t.Errorf("%s: got a nil error, want one matching %v", what, want)
		return false
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want an error matching %v", what, err, want)
		return false
	}
	fzCheckText(t, what, err, m)
	return true
}

// fzCheckText checks the message of err alone (see fzCheck).
func fzCheckText(t *testing.T, what string, err error, m fzMsg) {
	msg := err.Error()
	if m.op != "" && !strings.HasPrefix(msg, m.op+" ") && !strings.HasPrefix(msg, m.op+":") {
		t.Errorf("%s: message does not start with the operation %q: %s", what, m.op, msg)
	}
	for _, file := range m.files {
		base, dir := filepath.Base(file), filepath.Dir(file)
		if n := strings.Count(msg, base); n != 1 {
			t.Errorf("%s: message names the file %s %d times, want once: %s", what, base, n, msg)
		} else if !strings.Contains(msg, dir) {
			t.Errorf("%s: message names %s without its directory %s: %s", what, base, dir, msg)
		}
	}
	if m.anyChunk {
		if n := strings.Count(msg, ".chunk"); n != 1 {
			t.Errorf("%s: message names %d chunk files, want one: %s", what, n, msg)
		}
	}
	for _, name := range m.names {
		if m.wrapped && strings.HasPrefix(name, "offset ") {
			if !strings.Contains(msg, name) {
				t.Errorf("%s: message does not name %q: %s", what, name, msg)
			}
			continue
		}
		if n := strings.Count(msg, name); n != 1 {
			t.Errorf("%s: message names %q %d times, want once: %s", what, name, n, msg)
		}
	}
	if n := strings.Count(msg, " at offset "); n > 1 && !m.wrapped {
		t.Errorf("%s: message names an offset %d times, want once: %s", what, n, msg)
	}
}

// fzSeed returns the seed of a randomized test (FAULTZ_SEED replays one)
// and logs it.
func fzSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(fzSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", fzSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with %s=%d)", seed, fzSeedEnv, seed)
	return seed
}

// fzRandom returns n bytes from r, none of them zero (so that a lost
// write, which reads as zeros, never passes for data).
func fzRandom(r *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(1 + r.IntN(255))
	}
	return p
}

// fzOpen opens dir with a chunk size of fzCS and the given options, and
// closes the Manager when t ends (a second Close is harmless).
func fzOpen(t *testing.T, dir string, opts chunkmap.Options) *chunkmap.Manager {
	if opts.ChunkSize == 0 && !opts.ReadOnly {
		opts.ChunkSize = fzCS
	}
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// fzChunk returns the path of chunk i of the dataset in dir.
func fzChunk(dir string, i int64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x.chunk", i))
}

// fzRealDir returns dir with every symlink resolved, as Open resolves it
// and as messages name it.
func fzRealDir(t *testing.T, dir string) string {
	r, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fzExpect checks that [off, off+len(want)) of m reads as want.
func fzExpect(t *testing.T, what string, m *chunkmap.Manager, off int64, want []byte) {
	got := make([]byte, len(want))
	n, err := m.ReadAt(got, off)
	if err != nil || n != len(want) {
		t.Errorf("%s: read %d bytes at %d: n=%d, %v", what, len(want), off, n, err)
		return
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s: bytes at %d differ from offset %d on: got %x, want %x", what, off, off+int64(i), got[i:min(i+16, len(got))], want[i:min(i+16, len(want))])
	}
}

// fzMount mounts a tmpfs with the given options (size=..., nr_inodes=...)
// on a new directory and unmounts it when t ends, after every Manager
// opened later has been closed (cleanups run last in, first out).
func fzMount(t *testing.T, opts string) string {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): %s", err, out)
	}
	t.Cleanup(func() { fzUnmount(t, dir) })
	return dir
}

// fzMountExt4 makes an ext4 file system of size bytes, with blocks of
// block bytes (0: mkfs's choice) and no journal, in an image file in back,
// mounts it through a loop device on a new directory, unmounts it when t
// ends, and returns the directory. It skips t where mkfs.ext4 or loop
// devices are missing.
func fzMountExt4(t *testing.T, back string, size int64, block int) string {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4")
	}
	img := filepath.Join(back, "img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "-F", "-O", "^has_journal", "-E", "nodiscard,lazy_itable_init=1"}
	if block > 0 {
		args = append(args, "-b", strconv.Itoa(block))
	}
	if out, err := exec.Command("mkfs.ext4", append(args, img)...).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device: %v: %s", err, out)
	}
	t.Cleanup(func() { fzUnmount(t, mnt) })
	return mnt
}

// fzUnmount unmounts dir, lazily if something still holds it. A closed
// Manager's MANIFEST mapping is released by the garbage collector, so a
// busy mount gets one collection before the lazy unmount.
func fzUnmount(t *testing.T, dir string) {
	err := syscall.Unmount(dir, 0)
	if err != nil {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		err = syscall.Unmount(dir, 0)
	}
	if err != nil {
		if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
			t.Errorf("unmount %s: %v, then %v", dir, err, err2)
		}
	}
}

// fzFill fills the file system of dir with a file of its own, until a
// write fails with ENOSPC, and returns the file's path.
func fzFill(t *testing.T, dir string) string {
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	for _, step := range []int{64 << 10, 4 << 10, 512, 1} {
		buf := bytes.Repeat([]byte{0xf1}, step)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill: %v", err)
				}
				break
			}
		}
	}
	return path
}

// fzFreeBytes returns the bytes free for files on the file system of dir.
func fzFreeBytes(t *testing.T, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fzEntry is what fzSnapshot records of a directory entry.
type fzEntry struct {
	mode fs.FileMode
	size int64
	sum  string
	link string
}

// fzSnapshot records every entry of dir (type, size, the contents of
// regular files, the target of symlinks) without opening anything that is
// not a regular file.
func fzSnapshot(t *testing.T, dir string) map[string]fzEntry {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap := make(map[string]fzEntry, len(ents))
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		en := fzEntry{mode: fi.Mode(), size: fi.Size()}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s := sha256.Sum256(b)
			en.sum = hex.EncodeToString(s[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			en.link, _ = os.Readlink(p)
		case fi.IsDir():
			en.size = 0
		}
		snap[e.Name()] = en
	}
	return snap
}

// fzSameSnapshot reports the differences between two snapshots on t.
func fzSameSnapshot(t *testing.T, what string, before, after map[string]fzEntry) {
	for name, b := range before {
		a, ok := after[name]
		if !ok {
			t.Errorf("%s: %s was removed", what, name)
			continue
		}
		if a != b {
			t.Errorf("%s: %s changed: %+v, was %+v", what, name, a, b)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: %s appeared", what, name)
		}
	}
}

// fzChild runs the test binary again with only the test named run, in the
// role given (fzChildEnv), with the extra environment, and returns its
// combined output and error. A non-nil cred runs it as that user.
func fzChild(t *testing.T, run, role string, env []string, cred *syscall.Credential, exe string) (string, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe, "-test.run=^"+run+"$", "-test.count=1", "-test.v", "-test.timeout=20s")
	cmd.Env = append(append(os.Environ(), fzChildEnv+"="+role, fzGorace()), env...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fzGorace returns the GORACE setting of a child: the parent's, without the
// race detector's second of sleep at exit (the option is ignored without
// -race).
func fzGorace() string {
	return "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// fzChildPassed fails t unless a child's output shows that its test ran and
// passed.
func fzChildPassed(t *testing.T, run string, out string, err error) {
	if err != nil || !strings.Contains(out, "--- PASS: "+run) {
		t.Fatalf("the child process failed (%v):\n%s", err, out)
	}
}

// fzWriteClosed writes model at 0 of the dataset in dir, created with a
// chunk size of fzCS if need be, and closes it.
func fzWriteClosed(t *testing.T, dir string, model []byte) {
	t.Helper()
	m := fzOpen(t, dir, chunkmap.Options{})
	if _, err := m.WriteAt(model, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// fzHolds checks that m, opened again, starts at start (when that is not
// 0) and ends at len(model), and that every byte past start reads as model.
func fzHolds(t *testing.T, what string, m *chunkmap.Manager, start int64, model []byte) {
	t.Helper()
	if start != 0 && m.Start() != start {
		t.Fatalf("%s: Start %d, want %d", what, m.Start(), start)
	}
	if m.Size() != int64(len(model)) {
		t.Fatalf("%s: Size %d, want %d", what, m.Size(), len(model))
	}
	fzExpect(t, what, m, start, model[start:])
}

// fzAppend appends tail to m, checks that it landed at the end of model,
// and returns model with tail.
func fzAppend(t *testing.T, what string, m *chunkmap.Manager, model, tail []byte) []byte {
	t.Helper()
	at, err := m.Append(tail)
	if err != nil || at != int64(len(model)) {
		t.Fatalf("%s: at %d, %v; want at %d", what, at, err, len(model))
	}
	return append(model, tail...)
}

// fzOpenRefused checks that Open with each of optss, and Remove when path
// is not a regular file, refuse the dataset in dir as ErrCorrupt naming
// path, and leave its directory real as it was (before). broken says what
// happened to path.
func fzOpenRefused(t *testing.T, dir, real, path, broken string, optss []*chunkmap.Options) {
	t.Helper()
	before := fzSnapshot(t, real)
	for _, opts := range optss {
		var m *chunkmap.Manager
		var err error
		fzDo(t, "Open", func() { m, err = chunkmap.Open(dir, opts) })
		what := fmt.Sprintf("Open(%+v) after %s", opts, broken)
		if !fzCheck(t, what, err, chunkmap.ErrCorrupt, fzMsg{op: "open", files: []string{path}}) && m != nil {
			m.Close()
		}
		fzSameSnapshot(t, what, before, fzSnapshot(t, real))
	}
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		fzDo(t, "Remove", func() { err = chunkmap.Remove(dir) })
		fzCheck(t, "Remove after "+broken, err, chunkmap.ErrCorrupt, fzMsg{files: []string{path}})
		fzSameSnapshot(t, "Remove after "+broken, before, fzSnapshot(t, real))
	}
}

// fzUseInodes creates empty files in dir until the file system has no
// inode left, and returns their paths.
func fzUseInodes(t *testing.T, dir string) []string {
	t.Helper()
	var spare []string
	for i := 0; ; i++ {
		p := filepath.Join(dir, fmt.Sprintf("inode%03d", i))
		f, err := os.Create(p)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return spare
		}
		f.Close()
		spare = append(spare, p)
	}
}
