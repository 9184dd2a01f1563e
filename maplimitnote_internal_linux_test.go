package chunkmap

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// processMappings returns the number of the process's mappings, or skips
// the test where /proc does not tell.
func processMappings(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	return int64(bytes.Count(b, []byte{'\n'}))
}

// TestMapLimitNote checks that an error for want of memory names
// vm.max_map_count where the process's mappings are at that limit, and
// only there: raising ulimit -v, which the rest of the message suggests,
// does not help then.
func TestMapLimitNote(t *testing.T) {
	n := processMappings(t)
	for _, c := range []struct {
		name  string
		limit int64
		want  bool
	}{
		{"far below", 100 * n, false},
		{"at the limit", n, true},
		{"a sixteenth more than the process has", n + n/16, true},
		{"a fifth more", n + n/5, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(f func() int64) { mapCountLimit = f }(mapCountLimit)
			mapCountLimit = func() int64 { return c.limit }
			note := mapLimitNote()
			if got := strings.Contains(note, "vm.max_map_count"); got != c.want {
				t.Errorf("limit %d, %d mappings: note %q, want one naming vm.max_map_count: %v", c.limit, n, note, c.want)
			}
		})
	}
}

// TestArenaErr_MapLimit checks that Open's error for an arena the system
// refused with ENOMEM gives the advice that helps: at the limit of
// mappings, to close Managers or raise vm.max_map_count, and not that the
// process is short of address space (ulimit -v); elsewhere, the latter.
func TestArenaErr_MapLimit(t *testing.T) {
	n := processMappings(t)
	for _, c := range []struct {
		name    string
		limit   int64
		err     error
		wantMap bool // names vm.max_map_count, not ulimit -v
	}{
		{"room for mappings", 100 * n, syscall.ENOMEM, false},
		{"at the limit of mappings", n, syscall.ENOMEM, true},
		{"at the limit, not ENOMEM", n, syscall.EINVAL, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(f func() int64) { mapCountLimit = f }(mapCountLimit)
			mapCountLimit = func() int64 { return c.limit }
			err := arenaErr(MinChunkSize, c.err)
			msg := err.Error()
			if !errors.Is(err, c.err) {
				t.Errorf("arenaErr(%v) = %q, does not match %v", c.err, msg, c.err)
			}
			if got := strings.Contains(msg, "vm.max_map_count"); got != c.wantMap {
				t.Errorf("%q names vm.max_map_count: %v, want %v", msg, got, c.wantMap)
			}
			if got := strings.Contains(msg, "ulimit -v") || strings.Contains(msg, "short of address space"); got == c.wantMap {
				t.Errorf("%q tells of address space (ulimit -v): %v, want %v", msg, got, !c.wantMap)
			}
		})
	}
}

// TestMapLimitNote_SmallHeap checks that mapLimitNote counts the mappings
// without reading /proc/self/maps whole into the heap: it is called where
// the process is at its limit of mappings, and a heap grown by the size of
// that file (some 5 MiB at Linux's default limit) may need a mapping the
// kernel refuses. Here the process is given 20,000 more mappings.
func TestMapLimitNote_SmallHeap(t *testing.T) {
	const extra = 20000
	var maps [][]byte
	defer func() {
		for _, b := range maps {
			unix.Munmap(b)
		}
	}()
	for i := range extra {
		// Alternate protections, so that neighbours do not merge.
		prot := unix.PROT_READ
		if i%2 == 1 {
			prot = unix.PROT_NONE
		}
		b, err := unix.Mmap(-1, 0, os.Getpagesize(), prot, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			t.Skipf("mapping %d: %v", i, err)
		}
		maps = append(maps, b)
	}
	n, ok := mappingCount()
	if !ok || n < extra {
		t.Fatalf("mappingCount() = %d, %v, want at least %d, true", n, ok, extra)
	}
	defer func(f func() int64) { mapCountLimit = f }(mapCountLimit)
	mapCountLimit = func() int64 { return n }
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	note := mapLimitNote()
	runtime.ReadMemStats(&after)
	if !strings.Contains(note, "vm.max_map_count") {
		t.Errorf("mapLimitNote() at the limit = %q, want one naming vm.max_map_count", note)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
		t.Errorf("mapLimitNote() with %d mappings allocated %d bytes, want at most 256 KiB", n, got)
	}
}
