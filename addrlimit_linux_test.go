package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	_ "os/user" // links cgo: see TestAddrLimit_ManyManagers
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"golang.org/x/sys/unix"
)

// vmSize returns the process's address space in use (VmSize).
func vmSize(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmSize:"); ok {
			var kb uint64
			if _, err := fmt.Sscan(strings.TrimSpace(rest), &kb); err == nil {
				return kb << 10
			}
		}
	}
	t.Skip("no VmSize in /proc/self/status")
	return 0
}

// TestAddrLimit_Open runs Open under an address-space limit (RLIMIT_AS) in
// children. With 2,200 MiB to spare, the default 1 GiB chunks' arena used
// to take 2 GiB of it, the most that fit, and the program died at its next
// heap growth: it must leave room, so that 200 MiB of heap can be had
// after it, and work. (Open checks that as much again as its 1 GiB arena
// is free: with 2,100 MiB to spare that left 52 MiB for the threads the
// runtime starts meanwhile, 8 MiB of stack each in this cgo binary, and
// Open failed now and then on a loaded machine.) With 512 MiB to spare not one 1 GiB slot fits: Open
// must fail with ErrIO naming ENOMEM and the limit to raise.
func TestAddrLimit_Open(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector reserves address space of its own far beyond these limits")
	}
	if spare := os.Getenv("CHUNKMAP_ADDRLIMIT_SPARE"); spare != "" {
		addrLimitChild(t, spare, os.Getenv("CHUNKMAP_ADDRLIMIT_DIR"))
		return
	}
	for _, spare := range []string{"2200", "512", "3000pins"} {
		t.Run("spare="+spare+"MiB", func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAddrLimit_Open$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "CHUNKMAP_ADDRLIMIT_SPARE="+spare, "CHUNKMAP_ADDRLIMIT_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("addrlimit: done")) {
				if i := bytes.Index(out, []byte("fatal error")); i >= 0 {
					out = out[max(0, i-300):min(len(out), i+600)]
				}
				t.Fatalf("child with %s MiB of address space to spare: %v\n%s", spare, err, out)
			}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "addrlimit:") {
					t.Log(strings.TrimSpace(l))
				}
			}
		})
	}
}

// addrLimitPins opens, under the limit, a dataset of small chunks whose
// arena the limit caps at a share of it that is no power of two, and pins
// and writes across every chunk boundary: the arena's slots must still be
// a power of two, chunk i in slot i masked, or a range across two chunks
// that are not side by side in the arena runs off the first.
func addrLimitPins(t *testing.T, dir string) {
	const cs, n = chunkmap.MinChunkSize, 300
	m, err := chunkmap.Open(filepath.Join(dir, "pins"), &chunkmap.Options{ChunkSize: cs, ArenaSize: 1 << 34, MaxMapped: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(n * cs); err != nil {
		t.Fatal(err)
	}
	for c := int64(1); c < n; c++ {
		off := c*cs - 8
		p, err := m.PinWritable(off, 16)
		if err != nil {
			t.Fatalf("PinWritable across chunks %d and %d: %v", c-1, c, err)
		}
		copy(p.Bytes(), fmt.Sprintf("across %9d", c))
		p.Release()
		got := make([]byte, 16)
		if _, err := m.ReadAt(got, off); err != nil || string(got) != fmt.Sprintf("across %9d", c) {
			t.Fatalf("ReadAt across chunks %d and %d = %q, %v", c-1, c, got, err)
		}
	}
	fmt.Printf("addrlimit: %d pins across chunk boundaries under the limit\n", n-1)
	fmt.Println("addrlimit: done")
}

// addrLimitChild is TestAddrLimit_Open's child.
func addrLimitChild(t *testing.T, spare, dir string) {
	var mib uint64
	fmt.Sscan(spare, &mib)
	limit := vmSize(t) + mib<<20
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Skip(err)
	}
	keepHolesOnTmpfs(t) // the write at 3 GiB, not 3 GiB of zeros before it
	if strings.HasSuffix(spare, "pins") {
		addrLimitPins(t, dir)
		return
	}
	m, err := chunkmap.Open(filepath.Join(dir, "ds"), nil)
	if mib < 1024 {
		if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.ENOMEM) || !strings.Contains(err.Error(), "ulimit -v") {
			t.Fatalf("Open with %d MiB of address space to spare = %v; want ErrIO naming ENOMEM and ulimit -v", mib, err)
		}
		fmt.Printf("addrlimit: %v\n", err)
		// A refused Open leaves no directory it made, a Scratch one
		// included.
		if _, serr := os.Lstat(filepath.Join(dir, "ds")); !errors.Is(serr, fs.ErrNotExist) {
			t.Fatalf("the refused Open left %s: %v", filepath.Join(dir, "ds"), serr)
		}
		scratch := filepath.Join(dir, "scratch", "a", "b")
		if _, err := chunkmap.Open(scratch, &chunkmap.Options{Scratch: true}); !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.ENOMEM) {
			t.Fatalf("Scratch Open with %d MiB of address space to spare = %v; want ErrIO naming ENOMEM", mib, err)
		}
		if _, serr := os.Lstat(filepath.Join(dir, "scratch")); !errors.Is(serr, fs.ErrNotExist) {
			t.Fatalf("the refused Scratch Open left %s: %v", filepath.Join(dir, "scratch"), serr)
		}
		addrLimitScratchRace(t, dir)
		fmt.Println("addrlimit: done")
		return
	}
	if err != nil {
		t.Fatalf("Open with %d MiB of address space to spare: %v", mib, err)
	}
	defer m.Close()
	// Where the file system cannot allocate a range (ext2), chunks are
	// written whole: a write at 3 GiB would write 4 GiB, so the heap
	// grows beside an empty dataset.
	write := !chunkmap.FillsChunks(m)
	if write {
		if _, err := m.WriteAt([]byte("hello"), 3<<30); err != nil {
			t.Fatal(err)
		}
	}
	heap := make([][]byte, 50)
	for i := range heap {
		heap[i] = make([]byte, 4<<20)
		heap[i][0] = 1
	}
	got := make([]byte, 5)
	if _, err := m.ReadAt(got, 3<<30); write && (err != nil || string(got) != "hello") {
		t.Fatalf("ReadAt = %q, %v", got, err)
	}
	fmt.Printf("addrlimit: %d MiB to spare: the program grew its heap by %d MiB after Open\n", mib, len(heap)*4)
	fmt.Println("addrlimit: done")
}

// addrLimitScratchRace opens two scratch datasets in one new directory at
// once, again and again, under a limit that holds the arena of 64 KiB
// chunks but no 1 GiB slot: the Open of 1 GiB chunks fails, and must not
// remove the directory (still empty: scratch chunk files have no names)
// that the other Open made or found and now uses; it made the directory,
// failed to reserve its arena and removed the directory again. (It now
// reserves the arena first, and makes nothing.) The other's next chunk
// file is made there.
func addrLimitScratchRace(t *testing.T, dir string) {
	const rounds = 200
	for i := range rounds {
		d := filepath.Join(dir, fmt.Sprintf("race%d", i), "s")
		var (
			wg     sync.WaitGroup
			m      *chunkmap.Manager
			failed error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, failed = chunkmap.Open(d, &chunkmap.Options{Scratch: true})
		}()
		go func() {
			defer wg.Done()
			var err error
			if m, err = chunkmap.Open(d, &chunkmap.Options{Scratch: true, ChunkSize: 64 << 10}); err != nil {
				t.Errorf("round %d: Scratch Open of 64 KiB chunks: %v", i, err)
			}
		}()
		wg.Wait()
		if m == nil {
			t.FailNow()
		}
		if !errors.Is(failed, syscall.ENOMEM) {
			m.Close()
			t.Fatalf("round %d: Scratch Open of 1 GiB chunks = %v; want ENOMEM", i, failed)
		}
		_, werr := m.WriteAt([]byte("x"), 5<<16) // a new chunk file, made in d
		if cerr := m.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			_, serr := os.Lstat(d)
			t.Fatalf("round %d: the scratch dataset beside a failed Scratch Open of its directory: %v (its directory: %v)", i, werr, serr)
		}
	}
	fmt.Printf("addrlimit: %d rounds of a failing and a working Scratch Open of one new directory\n", rounds)
}

// TestAddrLimit_ManyManagers opens hundreds of Managers in children under
// an address-space limit of 300 MiB more than the child uses, then grows
// the heap by 64 MiB. The arenas used to take a quarter of the limit
// itself, which the Go runtime's own reservations (a gigabyte or more on
// 64-bit platforms) made more than all there was to spare, and an arena
// needed only as much again beside it: Managers of 64 KiB chunks took the
// last of the address space but 64 KiB, and the runtime died ("fatal
// error: runtime: cannot allocate memory") while the program was still
// opening them. Each Open must succeed or fail with ErrIO naming ENOMEM,
// and the program must live on.
//
// The test binary links cgo (the blank import of os/user), as most
// programs that use the network do: there every thread is a pthread whose
// stack reserves 8 MiB of address space, and the sixteen fsyncs a Sync ran
// side by side each held one, so the children's Close died in
// pthread_create ("Resource temporarily unavailable") until Sync fsyncs
// two at a time where address space is scarce.
func TestAddrLimit_ManyManagers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector reserves address space of its own far beyond these limits")
	}
	if cs := os.Getenv("CHUNKMAP_ADDRLIMIT_MANY_CS"); cs != "" {
		addrLimitManyChild(t, cs, os.Getenv("CHUNKMAP_ADDRLIMIT_DIR"))
		return
	}
	for _, c := range []struct{ cs, n string }{
		{"65536", "300"},
		{"1048576", "100"},
	} {
		t.Run("chunk="+c.cs, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAddrLimit_ManyManagers$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "CHUNKMAP_ADDRLIMIT_MANY_CS="+c.cs, "CHUNKMAP_ADDRLIMIT_MANY_N="+c.n,
				"CHUNKMAP_ADDRLIMIT_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("addrlimit: done")) {
				if i := bytes.Index(out, []byte("fatal error")); i >= 0 {
					out = out[max(0, i-300):min(len(out), i+600)]
				}
				t.Fatalf("child with chunks of %s bytes: %v\n%s", c.cs, err, out)
			}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "addrlimit:") {
					t.Log(strings.TrimSpace(l))
				}
			}
		})
	}
}

// addrLimitManyChild is TestAddrLimit_ManyManagers's child.
func addrLimitManyChild(t *testing.T, cs, dir string) {
	// Manager i writes at i chunks/2 alone: on tmpfs the Managers would
	// allocate the zeros before it too, 2.5 GiB in all.
	keepHolesOnTmpfs(t)
	var chunkSize int64
	var n int
	fmt.Sscan(cs, &chunkSize)
	fmt.Sscan(os.Getenv("CHUNKMAP_ADDRLIMIT_MANY_N"), &n)
	limit := vmSize(t) + 300<<20
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Skip(err)
	}
	var ms []*chunkmap.Manager
	for i := range n {
		m, err := chunkmap.Open(filepath.Join(dir, fmt.Sprint(i)), &chunkmap.Options{ChunkSize: chunkSize})
		if err != nil {
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.ENOMEM) || !strings.Contains(err.Error(), "ulimit -v") {
				t.Fatalf("Open %d under the limit = %v; want ErrIO naming ENOMEM and ulimit -v", i, err)
			}
			continue
		}
		if _, err := m.WriteAt([]byte("hello"), int64(i)*chunkSize/2); err != nil {
			t.Fatalf("WriteAt of Manager %d: %v", i, err)
		}
		ms = append(ms, m)
	}
	heap := make([][]byte, 16)
	for i := range heap {
		heap[i] = make([]byte, 4<<20)
		heap[i][0] = 1
	}
	for i, m := range ms {
		got := make([]byte, 5)
		if _, err := m.ReadAt(got, int64(i)*chunkSize/2); err != nil || string(got) != "hello" {
			t.Fatalf("ReadAt of Manager %d = %q, %v", i, got, err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("addrlimit: %d of %d Managers of %d-byte chunks opened, then the heap grew by %d MiB\n", len(ms), n, chunkSize, len(heap)*4)
	fmt.Println("addrlimit: done")
}
