//go:build linux

package chunkmap_test

// Tests of the file size limit (RLIMIT_FSIZE), which the README counts
// with a full disk and a quota: a write it refuses fails with ErrNoSpace
// and leaves the dataset as it was.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestHostileFS_FileSizeLimitAppend runs a child whose file size limit is
// 512 KiB, on a dataset of 1 MiB chunks whose chunk 0 exists: an Append of
// 600 KiB from offset 100 needs no new file and no new block past the
// file's size, but its pwrite past 512 KiB fails with EFBIG. The Append
// must fail with ErrNoSpace, and, as the README says of ErrNoSpace, leave
// the dataset as it was: Size unchanged, no range of never-written bytes
// published. A later Append must land at the old Size.
func TestHostileFS_FileSizeLimitAppend(t *testing.T) {
	if args := hfsChild("fsize"); args != nil {
		fileSizeLimitChild(t, args[0])
		return
	}
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(100); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileFS_FileSizeLimitAppend$", "-test.v")
	cmd.Env = append(os.Environ(), hfsChildEnv+"=fsize,"+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("file-size-limit checks done")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func fileSizeLimitChild(t *testing.T, dir string) {
	signal.Ignore(syscall.SIGXFSZ) // else the kernel kills the process at the limit
	lim := &syscall.Rlimit{Cur: 512 << 10, Max: 512 << 10}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	m, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	size := m.Size()
	off, err := m.Append(pattern(3, 600<<10))
	fmt.Printf("Append(600 KiB) at Size %d = %d, %v; Size now %d\n", size, off, err, m.Size())
	if err == nil {
		t.Errorf("Append past the file size limit succeeded")
	} else {
		hfsWantSentinel(t, "Append", err)
		wantErr(t, "Append past the file size limit", err, chunkmap.ErrNoSpace)
	}
	if got := m.Size(); got != size {
		t.Errorf("the failed Append moved Size from %d to %d: the bytes past the limit were never written", size, got)
	}
	off, err = m.Append([]byte("next"))
	if err != nil || off != size {
		t.Errorf("the next Append = %d, %v; want %d, nil", off, err, size)
	}
	fmt.Println("file-size-limit checks done")
}

// TestHostileFS_FileSizeLimitWriteCountsWhatChanged runs a child whose file
// size limit is 16 KiB, on a dataset of four 64 KiB chunks written whole,
// and writes across the limit inside Size: the pwrite stores the bytes
// below the limit, and the next fails with EFBIG. The WriteAt must fail
// with ErrNoSpace, and its n must count exactly the bytes it changed, as
// io.WriterAt asks: for a bulk write of three chunks from offset 1000, and
// for a small one (8 KiB at 12 KiB) into a chunk that admission does not
// map, which goes to the file on the locked path.
func TestHostileFS_FileSizeLimitWriteCountsWhatChanged(t *testing.T) {
	if args := hfsChild("fsizewrite"); args != nil {
		fileSizeLimitWriteChild(t, args[0], args[1])
		return
	}
	for _, name := range []string{"bulk", "small"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(make([]byte, 4*chunkmap.MinChunkSize), 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileFS_FileSizeLimitWriteCountsWhatChanged$", "-test.v")
			cmd.Env = append(os.Environ(), hfsChildEnv+"=fsizewrite,"+name+","+dir)
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("file-size-limit write checks done")) {
				t.Fatalf("child: %v\n%s", err, out)
			}
		})
	}
}

func fileSizeLimitWriteChild(t *testing.T, name, dir string) {
	const limit = 16 << 10
	signal.Ignore(syscall.SIGXFSZ)
	lim := &syscall.Rlimit{Cur: limit, Max: limit}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	opts := &chunkmap.Options{}
	off, p := int64(1000), bytes.Repeat([]byte{0xaa}, 3*chunkmap.MinChunkSize)
	if name == "small" {
		opts.MaxMapped = 1
		off, p = 12<<10, p[:8<<10]
	}
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if name == "small" {
		// Chunk 1 mapped and used, so that admission maps no other.
		buf := make([]byte, 100)
		for range 50 {
			if _, err := m.ReadAt(buf, chunkmap.MinChunkSize); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := m.WriteAt(p, off)
	fmt.Printf("WriteAt(%d bytes at %d) past the limit = %d, %v\n", len(p), off, n, err)
	wantErr(t, "WriteAt past the file size limit", err, chunkmap.ErrNoSpace)
	got := make([]byte, m.Size())
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	changed := bytes.Count(got, []byte{0xaa})
	if want := int(limit - off); n != changed || n != want || !bytes.Equal(got[off:off+int64(n)], p[:n]) {
		t.Errorf("the failed WriteAt returned n %d and changed %d bytes; want both %d, from offset %d", n, changed, want, off)
	}
	fmt.Println("file-size-limit write checks done")
}
