//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

const faultChunk = 64 << 10

// openFaultDataset returns a manager over three chunks of known bytes.
func openFaultDataset(t *testing.T, maxMapped int) (*chunkmap.Manager, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: faultChunk, MaxMapped: maxMapped})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*faultChunk/16)
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	return m, dir, data
}

// TestFault_TruncatedUnderMapping truncates a mapped chunk's file from
// outside: every access to the lost pages must return ErrFault naming the
// file, the process must survive, and the rest of the dataset must work.
func TestFault_TruncatedUnderMapping(t *testing.T) {
	m, dir, data := openFaultDataset(t, 4)
	buf := make([]byte, 8)
	if _, err := m.ReadAt(buf, faultChunk+100); err != nil { // map chunk 1
		t.Fatal(err)
	}
	victim := filepath.Join(dir, chunk.Name(1))
	if err := os.Truncate(victim, 0); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"ReadAt", func() error { _, err := m.ReadAt(buf, faultChunk+100); return err }},
		{"WriteAt", func() error { _, err := m.WriteAt(buf, faultChunk+200); return err }},
		{"ReadAt/straddle", func() error { _, err := m.ReadAt(make([]byte, 16), faultChunk-8); return err }},
		{"WriteAt/straddle", func() error { _, err := m.WriteAt(make([]byte, 16), 2*faultChunk-8); return err }},
		{"Gather", func() error { return m.Gather(buf, []int64{faultChunk + 8}, 8) }},
		{"Scatter", func() error { return m.Scatter(buf, []int64{faultChunk + 8}, 8) }},
		{"LoadUint64", func() error { _, err := m.LoadUint64(faultChunk + 8); return err }},
		{"StoreUint64", func() error { return m.StoreUint64(faultChunk+8, 1) }},
		{"AddUint32", func() error { _, err := m.AddUint32(faultChunk+8, 1); return err }},
		{"CompareAndSwapUint64", func() error { _, err := m.CompareAndSwapUint64(faultChunk+8, 0, 1); return err }},
		{"Batch", func() error {
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(faultChunk+8, 8)
				if err == nil {
					p[0]++
				}
				return err
			})
		}},
	}
	for _, op := range ops {
		err := op.do()
		if !errors.Is(err, chunkmap.ErrFault) {
			t.Fatalf("%s on truncated chunk: err = %v, want ErrFault", op.name, err)
		}
		if !bytes.Contains([]byte(err.Error()), []byte(victim)) {
			t.Errorf("%s: error %q does not name %s", op.name, err, victim)
		}
	}
	// Chunks 0 and 2 are untouched.
	got := make([]byte, 100)
	if _, err := m.ReadAt(got, 2*faultChunk+5); err != nil || !bytes.Equal(got, data[2*faultChunk+5:][:100]) {
		t.Fatalf("ReadAt on a healthy chunk after the fault: %v", err)
	}
}

// TestFault_ReplacedByShorterFile replaces a chunk's file with a shorter
// one after Open checked it and before it was first used: using it must fail
// with ErrFault, not crash. (A chunk already mapped or open keeps reading
// the file it opened, as any open file does.)
func TestFault_ReplacedByShorterFile(t *testing.T) {
	m, dir, _ := openFaultDataset(t, 1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	victim := filepath.Join(dir, chunk.Name(1))
	tmp := victim + ".new"
	if err := os.WriteFile(tmp, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, victim); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := m.ReadAt(buf, faultChunk+1); !errors.Is(err, chunkmap.ErrFault) {
		t.Fatalf("ReadAt on replaced chunk: err = %v, want ErrFault", err)
	}
	if _, err := m.WriteAt(buf, faultChunk+1); !errors.Is(err, chunkmap.ErrFault) {
		t.Fatalf("WriteAt on replaced chunk: err = %v, want ErrFault", err)
	}
	if _, err := m.ReadAt(buf, 0); err != nil {
		t.Fatalf("ReadAt on a healthy chunk: %v", err)
	}
}

// TestFault_TruncatedUnmapped truncates or extends a chunk file that is
// served by pread and pwrite (not mapped, because MaxMapped is taken):
// reads of a truncated file and writes to either must fail with ErrFault
// naming the file once and saying what happened to it, not return short
// data as if it were the dataset's end, nor write to a file of the wrong
// size. (A read of an extended file reads the chunk's own bytes, which
// are all still there.)
func TestFault_TruncatedUnmapped(t *testing.T) {
	for _, tc := range []struct {
		size int64  // chunk 2's file's new size
		says string // in the message
		ops  []string
	}{
		{100, "truncated by another program", []string{"read", "write"}},
		{2 * faultChunk, "extended by another program", []string{"write"}},
	} {
		for _, op := range tc.ops {
			t.Run(fmt.Sprintf("%s/%s", strings.Fields(tc.says)[0], op), func(t *testing.T) {
				m, dir, _ := openFaultDataset(t, 1)
				buf := make([]byte, 8)
				for range 3 { // chunk 0 stays mapped and used
					if _, err := m.ReadAt(buf, 0); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := m.ReadAt(buf, 2*faultChunk+8); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, chunk.Name(2))
				if err := os.Truncate(path, tc.size); err != nil { // another program
					t.Fatal(err)
				}
				maps := m.Stats().Maps
				var err error
				if op == "read" {
					_, err = m.ReadAt(buf, 2*faultChunk+8192)
				} else {
					_, err = m.WriteAt(buf, 2*faultChunk+8192)
				}
				if !errors.Is(err, chunkmap.ErrFault) {
					t.Fatalf("%s of chunk 2 whose file is %d bytes now: err = %v, want ErrFault", op, tc.size, err)
				}
				if msg := err.Error(); strings.Count(msg, path) != 1 || !strings.Contains(msg, tc.says) {
					t.Errorf("%s error %q does not name %s once and say %q", op, msg, path, tc.says)
				}
				if got := m.Stats().Maps; got != maps {
					t.Errorf("the %s mapped a chunk (%d maps, %d before): it was to go to the file", op, got, maps)
				}
				if fi, err := os.Stat(path); err != nil || fi.Size() != tc.size {
					t.Errorf("the chunk file after the failed %s: %v, %v; want it as the other program left it, %d bytes", op, fi, err, tc.size)
				}
			})
		}
	}
}

// TestFault_RemovedUnmapped removes the file of a chunk that is not mapped
// (another program): every access to it, by the writer or a following
// reader, returns ErrFault (and fs.ErrNotExist) with a message that names
// the file once and says it is missing, not "fault on mapped memory: open:
// no such file or directory" alone.
func TestFault_RemovedUnmapped(t *testing.T) {
	m, dir, data := openFaultDataset(t, 1)
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	path := filepath.Join(dir, chunk.Name(1))
	if err := os.Remove(path); err != nil { // another program
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"writer ReadAt", func() error { _, err := m.ReadAt(buf, faultChunk+8); return err }},
		{"writer WriteAt", func() error { _, err := m.WriteAt(buf, faultChunk+8); return err }},
		{"writer AddUint64", func() error { _, err := m.AddUint64(faultChunk+8, 1); return err }},
		{"writer Pin", func() error {
			p, err := m.Pin(faultChunk+8, 8)
			if err == nil {
				p.Release()
			}
			return err
		}},
		{"reader ReadAt", func() error { _, err := r.ReadAt(buf, faultChunk+8); return err }},
	} {
		err := tc.call()
		if !errors.Is(err, chunkmap.ErrFault) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s of chunk 1, whose file another program removed: %v, want ErrFault and fs.ErrNotExist", tc.name, err)
			continue
		}
		if msg := err.Error(); strings.Count(msg, path) != 1 || !strings.Contains(msg, "is missing: another program removed it") {
			t.Errorf("%s: error %q does not name %s once and say it is missing", tc.name, msg, path)
		}
	}
	// The other chunks still read.
	for _, off := range []int64{8, 2*faultChunk + 8} {
		if _, err := m.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+8]) {
			t.Errorf("ReadAt(%d) beside the missing chunk = %q, %v; want %q", off, buf, err, data[off:off+8])
		}
	}
}

// TestFault_GrowthOverTruncatedTail: after a Truncate, growth zeroes the
// stale bytes between Size and the new end in the last chunk. When another
// program truncated that chunk's file, the growth must fail with ErrFault
// and leave the file as that program left it: zeros written past its end
// would regrow it to an odd size, which hides the damage from later calls
// and tools.
func TestFault_GrowthOverTruncatedTail(t *testing.T) {
	tests := []struct {
		name   string
		mapped bool  // chunk 1 mapped when its file is cut
		cut    int64 // the file's new size
		at     int64 // where the growth writes, in chunk 1
	}{
		{"unmapped/within a page", false, 50, 3000},
		{"unmapped/pages away", false, 50, 3*4096 + 100},
		{"unmapped/cut to 0", false, 0, 8000},
		{"mapped/pages away", true, 50, 3*4096 + 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: faultChunk, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(bytes.Repeat([]byte{0xaa}, 2*faultChunk), 0); err != nil {
				t.Fatal(err)
			}
			// The bytes of chunk 1 past offset 100 go stale.
			if err := m.Truncate(faultChunk + 100); err != nil {
				t.Fatal(err)
			}
			if tc.mapped {
				if _, err := m.ReadAt(make([]byte, 8), faultChunk); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, chunk.Name(1))
			if err := os.Truncate(path, tc.cut); err != nil { // another program
				t.Fatal(err)
			}
			_, err = m.WriteAt([]byte("past size"), faultChunk+tc.at)
			if !errors.Is(err, chunkmap.ErrFault) {
				t.Errorf("WriteAt past Size into the cut chunk: err = %v, want ErrFault", err)
			} else if msg := err.Error(); strings.Count(msg, path) != 1 || !strings.HasPrefix(msg, "write ") {
				t.Errorf("WriteAt error %q does not name the operation, and %s once", msg, path)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != tc.cut {
				t.Errorf("the cut chunk file is %d bytes after the failed write, want %d, as it was left", fi.Size(), tc.cut)
			}
			if got := m.Size(); got != faultChunk+100 {
				t.Errorf("Size = %d after the failed write, want %d", got, faultChunk+100)
			}
		})
	}
}

// TestFullDisk runs a child process whose file size limit (RLIMIT_FSIZE)
// is below ChunkSize, so creating a chunk fails as on a full disk: Append,
// WriteAt and Grow must return the error and leave the dataset as it was.
func TestFullDisk(t *testing.T) {
	if os.Getenv("CHUNKMAP_FULLDISK_CHILD") != "" {
		fullDiskChild(t, os.Getenv("CHUNKMAP_FULLDISK_CHILD"))
		return
	}
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: faultChunk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(bytes.Repeat([]byte{7}, faultChunk+10), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFullDisk$", "-test.v")
	cmd.Env = append(os.Environ(), "CHUNKMAP_FULLDISK_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("full-disk checks passed")) {
		t.Fatalf("child did not run its checks:\n%s", out)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := fmt.Sprint([]string{chunk.Name(0), chunk.Name(1), chunkmap.ManifestName})
	if fmt.Sprint(names) != want {
		t.Fatalf("directory after the failed growth = %v, want %v", names, want)
	}
}

func fullDiskChild(t *testing.T, dir string) {
	// Without ignoring SIGXFSZ the kernel kills the process at the limit.
	signal.Ignore(syscall.SIGXFSZ)
	lim := &syscall.Rlimit{Cur: faultChunk / 2, Max: faultChunk / 2}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	m, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	size := m.Size()
	big := make([]byte, 3*faultChunk)
	if _, err := m.Append(big); err == nil || !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Append past the limit: err = %v, want EFBIG", err)
	}
	if _, err := m.WriteAt(big, 5*faultChunk); err == nil {
		t.Fatal("WriteAt past the limit succeeded")
	}
	if err := m.Grow(4 * faultChunk); err == nil {
		t.Fatal("Grow past the limit succeeded")
	}
	if got := m.Size(); got != size {
		t.Fatalf("Size after failed growth = %d, want %d", got, size)
	}
	if got := m.Stats().Chunks; got != 2 {
		t.Fatalf("Stats().Chunks = %d, want 2", got)
	}
	// The existing chunks still take writes and reads.
	off, err := m.Append([]byte("fits"))
	if err != nil || off != size {
		t.Fatalf("Append within capacity = %d, %v; want %d, nil", off, err, size)
	}
	got := make([]byte, 4)
	if _, err := m.ReadAt(got, off); err != nil || string(got) != "fits" {
		t.Fatalf("ReadAt = %q, %v", got, err)
	}
	if err := m.Truncate(size); err != nil {
		t.Fatal(err)
	}
	fmt.Println("full-disk checks passed at size " + strconv.FormatInt(size, 10))
}

// faultSink keeps the compiler from dropping a load that must fault.
var faultSink byte

// TestFault_Batch truncates a chunk under an open Batch: the Batch must end
// with ErrFault instead of crashing.
func TestFault_Batch(t *testing.T) {
	m, dir, _ := openFaultDataset(t, 4)
	err := m.Batch(func(b *chunkmap.Batch) error {
		p, err := b.Bytes(faultChunk+64, 8)
		if err != nil {
			return err
		}
		if err := os.Truncate(filepath.Join(dir, chunk.Name(1)), 0); err != nil {
			return err
		}
		faultSink = p[0] // faults: the page is past the file's end now
		return errors.New("read past a truncated file did not fault")
	})
	if !errors.Is(err, chunkmap.ErrFault) {
		t.Fatalf("Batch over a truncated chunk: %v, want ErrFault", err)
	}
}

// TestFault_BatchForeign faults inside a Batch function on memory that is
// not the batch's: a page of the program's own with no access. That is the
// program's fault, not the dataset's: the runtime's error must go on as a
// panic (Batch must not report ErrFault, which would put the dataset in
// doubt), the batch must release its holds, and a fault at a chunk an
// outer Batch holds, raised again by an inner one, is the outer's ErrFault.
func TestFault_BatchForeign(t *testing.T) {
	m, dir, _ := openFaultDataset(t, 4)
	page, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(page)
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		err = m.Batch(func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(faultChunk, 8); err != nil {
				return err
			}
			faultSink = page[100]
			return errors.New("a load from a PROT_NONE page did not fault")
		})
	}()
	if re, ok := recovered.(interface{ Addr() uintptr }); !ok || re.Addr() != uintptr(unsafe.Pointer(&page[100])) {
		t.Fatalf("a fault outside the batch's bytes: recovered %v, Batch returned %v; want the runtime's fault at %p to go on", recovered, err, &page[100])
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after the fault, Stats.Pinned = %d, want 0", st.Pinned)
	}
	if debug.SetPanicOnFault(false) {
		t.Error("after the fault went on, faults still panic on this goroutine: Batch did not restore the setting")
	}
	// Nested: the inner batch does not hold chunk 1, the outer does.
	err = m.Batch(func(outer *chunkmap.Batch) error {
		p, err := outer.Bytes(faultChunk+64, 8)
		if err != nil {
			return err
		}
		if err := os.Truncate(filepath.Join(dir, chunk.Name(1)), 0); err != nil {
			return err
		}
		return m.Batch(func(inner *chunkmap.Batch) error {
			if _, err := inner.Bytes(0, 8); err != nil {
				return err
			}
			faultSink = p[0]
			return errors.New("read past a truncated file did not fault")
		})
	})
	if !errors.Is(err, chunkmap.ErrFault) || !strings.Contains(err.Error(), chunk.Name(1)) {
		t.Fatalf("a fault at the outer batch's chunk inside an inner batch: %v, want ErrFault naming %s", err, chunk.Name(1))
	}
}

// faultForeign loads from page, which has no access: the frame the crash
// report of TestFault_BatchForeignReport must name.
//
//go:noinline
func faultForeign(page []byte) { faultSink = page[100] }

// TestFault_BatchForeignReport lets a fault at the program's own memory in
// a Batch function go unrecovered, in a child process: the program must
// end with the runtime's report of the fault, naming its address and the
// function that faulted, as it would outside a Batch.
func TestFault_BatchForeignReport(t *testing.T) {
	if os.Getenv("CHUNKMAP_FOREIGN_FAULT") != "" {
		m, _, _ := openFaultDataset(t, 4)
		page, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		m.Batch(func(b *chunkmap.Batch) error {
			faultForeign(page)
			return nil
		})
		t.Fatal("the fault did not end the program")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFault_BatchForeignReport$")
	cmd.Env = append(os.Environ(), "CHUNKMAP_FOREIGN_FAULT=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("faultForeign")) || !bytes.Contains(out, []byte("addr=")) {
		t.Fatalf("the child ended with %v; its report must name the address and faultForeign:\n%s", err, out)
	}
}

// TestGrow_AbsurdOffset writes at an offset no disk can back: the write
// must fail at once with ErrNoSpace and create nothing.
func TestGrow_AbsurdOffset(t *testing.T) {
	m, dir, _ := openFaultDataset(t, 2)
	before, _ := os.ReadDir(dir)
	if _, err := m.WriteAt([]byte{1}, 1<<61); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("WriteAt at 1<<61: %v, want ErrNoSpace", err)
	}
	if err := m.Grow(1 << 61); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("Grow(1<<61): %v, want ErrNoSpace", err)
	}
	if err := m.Truncate(1 << 61); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("Truncate(1<<61): %v, want ErrNoSpace", err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) || m.Size() != 3*faultChunk {
		t.Fatalf("after refused growth: %d entries (was %d), Size %d", len(after), len(before), m.Size())
	}
}

// TestFault_ScatterMarksStored checks that a Scatter that stops at a fault
// still leaves the chunks it stored to for the next Sync: the values before
// the faulting one were written, and Sync must flush them.
func TestFault_ScatterMarksStored(t *testing.T) {
	m, dir, _ := openFaultDataset(t, 4)
	buf := make([]byte, 8)
	for _, off := range []int64{100, faultChunk + 100} { // map chunks 0 and 1
		if _, err := m.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, chunk.Name(1)), 0); err != nil {
		t.Fatal(err)
	}
	offs := []int64{8, 16, 24, faultChunk + 8} // three into chunk 0, then the lost one
	err := m.Scatter(make([]byte, 8*len(offs)), offs, 8)
	if !errors.Is(err, chunkmap.ErrFault) {
		t.Fatalf("Scatter onto a truncated chunk: err = %v, want ErrFault", err)
	}
	if got := m.DirtyChunks(); got < 1 {
		t.Errorf("after a Scatter stored to chunk 0 and faulted: %d chunks queued for Sync, want chunk 0", got)
	}
}
