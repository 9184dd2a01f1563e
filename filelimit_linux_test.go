package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// TestFileLimit_WriteKeepsItsMapping checks a write into a mapped chunk
// whose allocation must open the chunk's file and is refused a descriptor:
// the Manager gives back its unheld mappings to get one, the write's own
// among them, and the write must then go by pwrite, not through the
// emptied slot (a false ErrFault, and the bytes lost).
func TestFileLimit_WriteKeepsItsMapping(t *testing.T) {
	keepHolesOnTmpfs(t) // else Truncate allocates chunk 0 whole, and the write opens nothing
	m, f, _ := faultDataset(t, chunkmap.Options{MaxMapped: 4, NoAdmission: true})
	defer m.Close()
	skipWhereChunksAreFilled(t, m) // each chunk allocated whole at creation: the write opens nothing
	if err := m.Truncate(2 * plChunk); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(make([]byte, 16), 0); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	chunkmap.DropFileCache(m)
	rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, "*0.chunk"), Err: unix.EMFILE, Times: 1})
	p := bytes.Repeat([]byte{'z'}, 100)
	if _, err := m.WriteAt(p, 1000); err != nil {
		t.Fatalf("WriteAt with one open of its chunk refused: %v", err)
	}
	if f.Fired(rule) != 1 {
		t.Fatalf("the refusal fired %d times, want 1", f.Fired(rule))
	}
	got := make([]byte, len(p))
	if _, err := m.ReadAt(got, 1000); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("read back %q, %v; want %q", got, err, p)
	}
}

// TestFileLimit_Refused runs, in a child whose descriptor limit is 256,
// what used to exhaust it with the library's own files: four Managers
// writing hundreds of chunks each (their caches of open files once took
// 64 each, besides their mappings' files), and one Manager whose MaxMapped
// (1,000) allows more mapped chunks, each keeping its file open, than the
// limit. Every write and read must succeed and read back right, the rest
// of the program must still be able to open a file, and the datasets must
// reopen as written.
func TestFileLimit_Refused(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_FILELIMIT_DIR"); dir != "" {
		fileLimitChild(t, dir)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLimit_Refused$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CHUNKMAP_FILELIMIT_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("filelimit: done")) {
		t.Fatalf("child with 256 descriptors: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "filelimit:") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

// fileLimitChild is TestFileLimit_Refused's child.
func fileLimitChild(t *testing.T, base string) {
	const cs = chunkmap.MinChunkSize
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 256, Max: 256}); err != nil {
		t.Skip(err)
	}
	canOpen := func(when string) {
		t.Helper()
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatalf("%s: the program cannot open a file: %v", when, err)
		}
		f.Close()
	}
	// Four Managers with the default MaxMapped, 300 chunks each.
	var ms []*chunkmap.Manager
	for i := range 4 {
		m, err := chunkmap.Open(filepath.Join(base, fmt.Sprint(i)), &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		for c := int64(0); c < 300; c++ {
			if _, err := m.WriteAt([]byte{byte(i), byte(c)}, c*cs+7); err != nil {
				t.Fatalf("Manager %d, chunk %d: %v", i, c, err)
			}
		}
	}
	canOpen("with four Managers of 300 chunks")
	buf := make([]byte, 2)
	for i, m := range ms {
		for c := int64(0); c < 300; c += 13 {
			if _, err := m.ReadAt(buf, c*cs+7); err != nil || buf[0] != byte(i) || buf[1] != byte(c) {
				t.Fatalf("Manager %d ReadAt chunk %d = %v, %v", i, c, buf, err)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("filelimit: four Managers: ok")

	// One Manager allowed more mapped chunks, each with its file open,
	// than the process has descriptors.
	dir := filepath.Join(base, "one")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1000, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	model := chunkPattern(0, n*cs)
	if _, err := m.Append(model); err != nil {
		t.Fatal(err)
	}
	b8 := make([]byte, 8)
	for round := range 2 {
		for c := int64(0); c < n; c++ {
			off := c*cs + int64(round)*64
			if _, err := m.ReadAt(b8, off); err != nil || !bytes.Equal(b8, model[off:off+8]) {
				t.Fatalf("ReadAt(%d) = %x, %v; want %x", off, b8, err, model[off:off+8])
			}
			if _, err := m.WriteAt([]byte{'w', byte(c)}, off+100); err != nil {
				t.Fatalf("WriteAt(%d): %v", off+100, err)
			}
			copy(model[off+100:], []byte{'w', byte(c)})
		}
	}
	canOpen("after the Manager was refused descriptors")
	// Growth needs a new file: with every descriptor taken by the
	// program, the Manager must give back its own to make one.
	var hogs []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		hogs = append(hogs, f)
	}
	grow := chunkPattern(n*cs, 3*cs)
	_, err = m.Append(grow)
	for _, f := range hogs {
		f.Close()
	}
	if err != nil {
		t.Fatalf("Append with every descriptor taken by the program: %v", err)
	}
	model = append(model, grow...)
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync after growth at the limit: %v", err)
	}
	// Pins hold their chunks: once every descriptor is taken, a Pin is
	// refused and says why.
	pinned, refusal := pinUntilRefused(m, n+3)
	if !errors.Is(refusal, chunkmap.ErrIO) || !errors.Is(refusal, unix.EMFILE) || !strings.Contains(refusal.Error(), "ulimit -n") {
		t.Fatalf("after %d pins, Pin = %v; want ErrIO naming EMFILE and ulimit -n", pinned, refusal)
	}
	fmt.Printf("filelimit: one Manager: refused after %d pins: %v; Stats %+v\n", pinned, refusal, m.Stats())
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wantReopened(t, dir, model)
	fmt.Println("filelimit: done")
}
