package chunkmap_test

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
)

// residentPages returns how many pages of the file at path are in the page
// cache.
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	vec := make([]byte, (len(b)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// evictPages drops the clean pages of the file at path from the page cache.
func evictPages(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// readAheadHere skips the test where a cold one-byte pread of a file in dir
// brings in only its page, AdviceRandom or not: on tmpfs, or a device with
// read-ahead off, the hint cannot be seen.
func readAheadHere(t *testing.T, dir string) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if typ := uint32(st.Type); typ == unix.TMPFS_MAGIC || typ == unix.RAMFS_MAGIC {
		t.Skip("the page cache of tmpfs and ramfs is the file: nothing to read ahead")
	}
	path := filepath.Join(dir, "probe")
	if err := os.WriteFile(path, make([]byte, cs), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	evictPages(t, path)
	if n := residentPages(t, path); n != 0 {
		t.Skipf("%d pages stay cached after FADV_DONTNEED", n)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatal(err)
	}
	if n := residentPages(t, path); n <= 1 {
		t.Skip("no read-ahead on this file system: AdviceRandom changes nothing to see")
	}
}

// TestAdvice_GrownFiles checks that the chunk files a Manager creates as it
// grows, which it keeps open for the preads and pwrites that follow, get
// Options.Advice as the files it opens do: with AdviceRandom, a cold
// one-byte read of a chunk that admission does not map brings in one page,
// not the kernel's read-ahead window.
func TestAdvice_GrownFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		grow func(m *chunkmap.Manager) error
	}{
		{"WriteAt", func(m *chunkmap.Manager) error {
			_, err := m.WriteAt(pattern(1, 3*cs), 0)
			return err
		}},
		{"Append", func(m *chunkmap.Manager) error {
			_, err := m.Append(pattern(2, 3*cs))
			return err
		}},
		{"small write past Size", func(m *chunkmap.Manager) error {
			_, err := m.WriteAt(pattern(4, 8), 3*cs-8)
			return err
		}},
		{"Grow", func(m *chunkmap.Manager) error {
			if err := m.Grow(3 * cs); err != nil {
				return err
			}
			_, err := m.WriteAt(pattern(5, 8), 3*cs-8)
			return err
		}},
		{"write past Size", func(m *chunkmap.Manager) error {
			// The chunks in the gap are made ahead, on the maker.
			_, err := m.WriteAt(pattern(3, 8*cs), 6*cs)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			readAheadHere(t, dir)
			m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, Advice: chunkmap.AdviceRandom})
			if err := tc.grow(m); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			// Chunk 0 mapped, the bound reached: admission serves chunk
			// 2's first miss with pread. (Growth may have mapped chunk
			// 2: chunk 0's misses replace it.)
			for range 64 {
				readAt(t, m, 0, 1)
			}
			path := filepath.Join(dir, chunkmap.ChunkFileName(2))
			evictPages(t, path)
			if n := residentPages(t, path); n != 0 {
				t.Skipf("%d pages of chunk 2 stay cached after FADV_DONTNEED", n)
			}
			readAt(t, m, 2*cs, 1)
			if s := m.Stats(); s.Mapped != 1 {
				t.Fatalf("Stats().Mapped = %d, want 1: chunk 2 must be read with pread", s.Mapped)
			}
			if n := residentPages(t, path); n > 1 {
				t.Errorf("a one-byte read of chunk 2 with AdviceRandom brought %d pages into the page cache, want 1 at most", n)
			}
		})
	}
}
