package chunkmap_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/procself"
)

// procStatusKiB returns a field of /proc/self/status in KiB.
func procStatusKiB(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// mappedFromDir sums the sizes of this process's mappings of files in dir,
// as the kernel lists them in /proc/self/maps.
func mappedFromDir(t *testing.T, dir string) (bytes int64, mappings int) {
	t.Helper()
	ms, err := procself.Maps()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasPrefix(m.Path, dir+"/") {
			bytes += m.Bytes()
			mappings++
		}
	}
	return bytes, mappings
}

// datasetMappings returns how many mappings of files in dir the kernel
// lists for this process.
func datasetMappings(t *testing.T, dir string) (int, bool) {
	_, n := mappedFromDir(t, dir)
	return n, true
}

// TestMemoryBound scans a dataset eight times larger than MaxMapped ×
// ChunkSize and checks, with the kernel's own figures, that the chunks
// mapped and the file pages resident in the process stay within that bound
// (plus one pinned chunk) and a small constant.
func TestMemoryBound(t *testing.T) {
	const (
		chunkSize = 4 << 20
		maxMapped = 4
		bound     = maxMapped * chunkSize
		total     = 8 * bound
		slack     = 8 << 20 // the test binary's own file-backed pages may grow a little
	)
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: maxMapped})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := int64(0); off < total; off += int64(len(buf)) {
		if _, err := m.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	pin, err := m.Pin(0, 8) // a pinned chunk may add one chunk to the bound
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Release()
	base := procStatusKiB(t, "RssFile") << 10
	var sum byte
	for pass := range 2 {
		for off := int64(0); off < total; off += int64(len(buf)) {
			if _, err := m.ReadAt(buf, off); err != nil {
				t.Fatal(err)
			}
			sum += buf[7]
			if mapped, n := mappedFromDir(t, dir); mapped > bound+chunkSize || n > maxMapped+1 {
				t.Fatalf("pass %d at offset %d: the kernel lists %d mappings, %d bytes, of chunk files; want at most %d bytes",
					pass, off, n, mapped, bound+chunkSize)
			}
		}
		if st := m.Stats(); st.Mapped > maxMapped+1 {
			t.Fatalf("Stats().Mapped = %d, want at most %d", st.Mapped, maxMapped+1)
		}
	}
	rss := procStatusKiB(t, "RssFile") << 10
	if grew := rss - base; grew > bound+chunkSize+slack {
		t.Fatalf("file-backed resident set grew by %d bytes over a %d-byte scan; want at most %d",
			grew, int64(total), bound+chunkSize+slack)
	}
	t.Logf("scanned %d MiB twice: RssFile %d -> %d KiB (bound %d KiB + pinned chunk + %d KiB slack); checksum %d",
		total>>20, base>>10, rss>>10, bound>>10, slack>>10, sum)
}
