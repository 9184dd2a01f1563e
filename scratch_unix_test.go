//go:build unix

package chunkmap_test

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// assertEmptyDir fails unless dir exists and holds nothing.
func assertEmptyDir(t *testing.T, dir, when string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s: %s left in the scratch directory", when, e.Name())
	}
}

func TestScratch(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ChunkSize: 64 << 10, MaxMapped: 2, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 40*64<<10) // 40 chunks through 2 mappings: evictions remap by descriptor
	for i := range data {
		data[i] = byte(i*31 + i>>16)
	}
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, dir, "while open")
	got := make([]byte, len(data))
	for pass := range 2 {
		if _, err := m.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("pass %d: data read back differs", pass)
		}
	}
	if st := m.Stats(); st.Chunks != 40 || st.Mapped > 2 || st.Evictions == 0 {
		t.Errorf("Stats() = %+v, want 40 chunks, at most 2 mapped, evictions", st)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync on scratch = %v, want nil", err)
	}
	if err := m.Truncate(10 << 16); err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(3 << 16); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Chunks != 7 {
		t.Errorf("after Truncate and DropBefore: %d chunks, want 7", st.Chunks)
	}
	if _, err := m.ReadAt(got[:100], 5<<16); err != nil || !bytes.Equal(got[:100], data[5<<16:][:100]) {
		t.Fatalf("ReadAt after DropBefore: %v", err)
	}
	if err := m.Truncate(12 << 16); err != nil { // re-extend: zeros
		t.Fatal(err)
	}
	if _, err := m.ReadAt(got[:100], 11<<16); err != nil || !bytes.Equal(got[:100], make([]byte, 100)) {
		t.Fatalf("re-extended bytes = %v, %v; want zeros", got[:4], err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, dir, "after Close")
	if _, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ReadOnly: true}); !errors.Is(err, chunkmap.ErrInvalidOptions) {
		t.Errorf("Scratch with ReadOnly: %v, want ErrInvalidOptions", err)
	}
}

// TestScratch_Killed kills a process using a scratch dataset: the system
// must delete its chunks.
func TestScratch_Killed(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_SCRATCH_CHILD"); dir != "" {
		m, err := chunkmap.Open(dir, &chunkmap.Options{Scratch: true, ChunkSize: 64 << 10, MaxMapped: 1})
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		if _, err := m.Append(make([]byte, 5<<16)); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestScratch_Killed$")
	cmd.Env = append(os.Environ(), "CHUNKMAP_SCRATCH_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	assertEmptyDir(t, dir, "after SIGKILL")
}

// TestScratch_UnwritableDirectory checks that a scratch Open fails where
// no chunk file can be made, as a writer's Open does, instead of leaving
// the failure to the first write: in a directory the process may not write
// in, and in a new one whose FileMode (0o444, so 0o555) keeps the process
// out of it, which the Open then removes, with its new parent, so that the
// next Open, with another FileMode, is not kept out too. Refused Opens,
// these and one whose directory cannot be made (a file stands in its
// path), give back the arena and the directory's handles they took.
func TestScratch_UnwritableDirectory(t *testing.T) {
	if unpriv.Run(t) {
		return // root writes in any directory
	}
	parent := t.TempDir()
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(entries)
	}
	fds0, maps0 := fds(), chunkmap.MapsHeld()
	defer func() {
		if fds1, maps1 := fds(), chunkmap.MapsHeld(); fds1 != fds0 || maps1 != maps0 {
			t.Errorf("after the refused Opens: %d descriptors open and %d arenas and mappings held, before them %d and %d", fds1, maps1, fds0, maps0)
		}
	}()
	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := chunkmap.Open(filepath.Join(file, "s"), &chunkmap.Options{Scratch: true, ChunkSize: 64 << 10}); !errors.Is(err, chunkmap.ErrIO) {
		t.Fatalf("scratch Open under a regular file = %v, want ErrIO", err)
	}
	ro := filepath.Join(parent, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	_, err := chunkmap.Open(ro, &chunkmap.Options{Scratch: true, ChunkSize: 64 << 10})
	if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("scratch Open in a directory of mode 0o555 = %v, want ErrIO matching fs.ErrPermission", err)
	}
	assertEmptyDir(t, ro, "after the refused Open")

	made := filepath.Join(parent, "new", "s")
	_, err = chunkmap.Open(made, &chunkmap.Options{Scratch: true, ChunkSize: 64 << 10, FileMode: 0o444})
	if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("scratch Open with FileMode 0o444 = %v, want ErrIO matching fs.ErrPermission", err)
	}
	if _, err := os.Lstat(filepath.Join(parent, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused Open left the directories it made: %v", err)
	}
	m, err := chunkmap.Open(made, &chunkmap.Options{Scratch: true, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatalf("scratch Open after the refused one: %v", err)
	}
	if fds() <= fds0 {
		t.Errorf("an open scratch Manager holds no descriptor of its directory")
	}
	if _, err := m.WriteAt([]byte("x"), 3<<16); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
