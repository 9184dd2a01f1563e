package chunkmap_test

// Calls refused a file descriptor give back what the README says every such
// call gives back (the Manager's idle cached files, then its unheld chunks'
// files) and try again. Each test runs its rows in a child process: the
// descriptor limit is the process's, and the parent's must stay as it is.

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
)

// fdsChildEnv names the row (a MaxMapped) that a child process runs, and
// fdsDirEnv the directory it works in.
const (
	fdsChildEnv = "CHUNKMAP_FDS_CHILD"
	fdsDirEnv   = "CHUNKMAP_FDS_DIR"
)

// runFDsRows runs test's child once per MaxMapped in rows, each in a
// process of its own, and fails if a child does not pass; in a child, it
// runs child with the row's MaxMapped and directory instead.
func runFDsRows(t *testing.T, test string, rows []int, child func(t *testing.T, maxMapped int, dir string)) {
	t.Helper()
	if row := os.Getenv(fdsChildEnv); row != "" {
		var maxMapped int
		if _, err := fmt.Sscan(row, &maxMapped); err != nil {
			t.Fatal(err)
		}
		child(t, maxMapped, filepath.Join(os.Getenv(fdsDirEnv), "ds"))
		return
	}
	for _, maxMapped := range rows {
		t.Run(fmt.Sprintf("maxMapped=%d", maxMapped), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", fdsChildEnv, maxMapped), fdsDirEnv+"="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
				t.Fatalf("child: %v\n%s", err, out)
			}
		})
	}
}

// writeEvicting writes 700 bytes at 100 into each of maxMapped+2 chunks
// through their mappings, so that the first two are evicted dirty by the
// ones after them, drops the Manager's cached files, and returns want (of
// n bytes) with those writes in it.
func writeEvicting(t *testing.T, m *chunkmap.Manager, maxMapped int, n int64) []byte {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	want := make([]byte, n)
	for i := range int64(maxMapped + 2) {
		p := bytes.Repeat([]byte{byte(i + 1)}, 700)
		copy(want[i*cs+100:], p)
		if _, err := m.WriteAt(p, i*cs+100); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Stats().Mapped; got != maxMapped {
		t.Fatalf("%d chunks mapped, want %d", got, maxMapped)
	}
	chunkmap.DropFileCache(m)
	return want
}

// closeAndReread closes m and checks that a reader of dir then reads want
// from offset 0.
func closeAndReread(t *testing.T, m *chunkmap.Manager, dir string, want []byte) {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, len(want))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAt after reopen: %v, or the bytes differ", err)
	}
}

// TestSync_OutOfDescriptorsUnmapsChunks: a Sync that must open chunk files
// by name to fsync them (dirty chunks evicted with no cached file left),
// in a process with no descriptor free but those of the Manager's mapped
// chunks, must give back its unheld chunks' files and succeed. It closed
// only the idle cached files, found none, and failed with ErrIO (EMFILE)
// every time, although unmapping one chunk would have freed a descriptor.
func TestSync_OutOfDescriptorsUnmapsChunks(t *testing.T) {
	runFDsRows(t, "TestSync_OutOfDescriptorsUnmapsChunks", []int{1, 4}, func(t *testing.T, maxMapped int, dir string) {
		const cs = chunkmap.MinChunkSize
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		want := writeEvicting(t, m, maxMapped, int64(maxMapped+1)*cs+800)
		restore := lowerFileLimit(t)
		serr := m.Sync()
		restore()
		if serr != nil {
			t.Errorf("Sync with no descriptor free but those of %d unheld mapped chunks = %v, want nil", maxMapped, serr)
			if !errors.Is(serr, chunkmap.ErrIO) || !errors.Is(serr, syscall.EMFILE) {
				t.Errorf("and its error matches neither ErrIO nor EMFILE")
			}
		}
		closeAndReread(t, m, dir, want)
	})
}

// TestScratch_GrowOutOfDescriptorsUnmapsChunks: a scratch Manager's growth
// refused a descriptor for its new chunk file must give back its idle
// cached files, then its unheld chunks' files, and create the chunk.
// Scratch chunk files were created outside withFilesLocked, so growth
// failed with ErrIO (EMFILE) while each unheld mapped chunk held a
// descriptor of its own (its clone of the chunk's file) that unmapping it
// would have freed.
func TestScratch_GrowOutOfDescriptorsUnmapsChunks(t *testing.T) {
	runFDsRows(t, "TestScratch_GrowOutOfDescriptorsUnmapsChunks", []int{2, 4}, func(t *testing.T, maxMapped int, dir string) {
		const cs = chunkmap.MinChunkSize
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true, Scratch: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		chunks := int64(maxMapped + 2)
		want := writeEvicting(t, m, maxMapped, (chunks+1)*cs)
		restore := lowerFileLimit(t)
		p := []byte("grown")
		copy(want[chunks*cs+cs-int64(len(p)):], p)
		_, werr := m.WriteAt(p, chunks*cs+cs-int64(len(p)))
		restore()
		if werr != nil {
			t.Fatalf("growth of a scratch dataset with no descriptor free but those of %d unheld mapped chunks = %v, want nil", maxMapped, werr)
		}
		got := make([]byte, len(want))
		if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadAt after the growth: %v, or the bytes differ", err)
		}
	})
}

// TestSync_OutOfDescriptorsSaysItOnce: a Sync refused a descriptor for
// each of many chunk files (dirty chunks evicted with no cached file, the
// one mapped chunk pinned, no descriptor free) fails with ErrIO matching
// EMFILE, and says what to raise once: the first file's refusal with its
// hint, then how many more were refused. It joined each file's refusal
// whole, a few hundred bytes with the same hint apiece. The next Sync,
// with descriptors free again, makes every chunk durable.
func TestSync_OutOfDescriptorsSaysItOnce(t *testing.T) {
	runFDsRows(t, "TestSync_OutOfDescriptorsSaysItOnce", []int{1}, func(t *testing.T, _ int, dir string) {
		const cs, chunks = chunkmap.MinChunkSize, 10
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, err := m.WriteAt(make([]byte, chunks*cs), 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, chunks*cs)
		for i := range int64(chunks) {
			p := bytes.Repeat([]byte{byte(i + 1)}, 700)
			copy(want[i*cs+100:], p)
			if _, err := m.AddUint64(i*cs, 0); err != nil { // maps chunk i, evicting the one before
				t.Fatal(err)
			}
			if _, err := m.WriteAt(p, i*cs+100); err != nil {
				t.Fatal(err)
			}
		}
		pin, err := m.Pin((chunks-1)*cs, 8)
		if err != nil {
			t.Fatal(err)
		}
		chunkmap.DropFileCache(m)
		restore := lowerFileLimit(t)
		serr := m.Sync()
		restore()
		pin.Release()
		if serr == nil {
			t.Fatal("Sync with no descriptor free succeeded")
		}
		msg := serr.Error()
		if !errors.Is(serr, chunkmap.ErrIO) || !errors.Is(serr, syscall.EMFILE) {
			t.Errorf("Sync = %v; want ErrIO matching EMFILE", serr)
		}
		if n := strings.Count(msg, "ulimit -n"); n != 1 {
			t.Errorf("Sync's error says to raise the limit %d times; want once:\n%s", n, msg)
		}
		if !strings.Contains(msg, fmt.Sprintf("%d more chunk files to sync could not be opened for want of descriptors", chunks-2)) {
			t.Errorf("Sync's error does not count the %d other files refused:\n%s", chunks-2, msg)
		}
		if err := m.Sync(); err != nil {
			t.Fatalf("Sync with descriptors free again: %v", err)
		}
		closeAndReread(t, m, dir, want)
	})
}
