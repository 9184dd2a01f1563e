package chunkmap

import (
	"bytes"
	"errors"
	"fmt"
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

// limitTries bounds the tries of withLimitFrom.
const limitTries = 5

// withLimitFrom runs check with mapCountLimit giving limit(n), n being the
// process's count of mappings when the limit is asked for, and returns ""
// once a try passes, or else the last try's failure, with the limit and
// count it was given. The count moves under a test: the cleanups of
// Managers other tests closed unmap their arenas and state pages, two each,
// as the collector reaches them, and the runtime maps more heap. A limit set
// from a count taken before the call is wrong by however many moved
// meanwhile, where the near cases allow a sixteenth of the count (a 256th
// where the limit is a sixteenth over it): a collection's cleanups just
// before the call took away more, and the note was missing. Asked for as
// mapLimitNote asks, right after its own count, the limit is off only by
// what moved between the two reads; a try that such a move spoils is tried
// again, and a threshold that is wrong is wrong at every try.
func withLimitFrom(t *testing.T, limit func(n int64) int64, check func() string) string {
	t.Helper()
	defer func(f func() int64) { mapCountLimit = f }(mapCountLimit)
	var msg string
	for range limitTries {
		var n, l int64
		mapCountLimit = func() int64 {
			n = processMappings(t)
			l = limit(n)
			return l
		}
		if msg = check(); msg == "" {
			return ""
		}
		msg = fmt.Sprintf("limit %d, %d mappings: %s", l, n, msg)
	}
	return msg
}

// TestMapLimitNote checks that an error for want of memory names
// vm.max_map_count where the process's mappings are at that limit, and
// only there: raising ulimit -v, which the rest of the message suggests,
// does not help then.
func TestMapLimitNote(t *testing.T) {
	processMappings(t) // skips without /proc
	for _, c := range []struct {
		name  string
		limit func(n int64) int64
		want  bool
	}{
		{"far below", func(n int64) int64 { return 100 * n }, false},
		{"at the limit", func(n int64) int64 { return n }, true},
		{"a sixteenth more than the process has", func(n int64) int64 { return n + n/16 }, true},
		{"a fifth more", func(n int64) int64 { return n + n/5 }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := withLimitFrom(t, c.limit, func() string {
				note := mapLimitNote()
				if got := strings.Contains(note, "vm.max_map_count"); got != c.want {
					return fmt.Sprintf("note %q, want one naming vm.max_map_count: %v", note, c.want)
				}
				return ""
			})
			if msg != "" {
				t.Errorf("%s (at each of %d tries)", msg, limitTries)
			}
		})
	}
}

// TestArenaErr_MapLimit checks that Open's error for an arena the system
// refused with ENOMEM gives the advice that helps: at the limit of
// mappings, to close Managers or raise vm.max_map_count, and not that the
// process is short of address space (ulimit -v); elsewhere, the latter.
func TestArenaErr_MapLimit(t *testing.T) {
	processMappings(t) // skips without /proc
	for _, c := range []struct {
		name    string
		limit   func(n int64) int64
		err     error
		wantMap bool // names vm.max_map_count, not ulimit -v
	}{
		{"room for mappings", func(n int64) int64 { return 100 * n }, syscall.ENOMEM, false},
		{"at the limit of mappings", func(n int64) int64 { return n }, syscall.ENOMEM, true},
		{"at the limit, not ENOMEM", func(n int64) int64 { return n }, syscall.EINVAL, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := withLimitFrom(t, c.limit, func() string {
				err := arenaErr(MinChunkSize, c.err)
				msg := err.Error()
				if !errors.Is(err, c.err) {
					return fmt.Sprintf("arenaErr(%v) = %q, does not match %v", c.err, msg, c.err)
				}
				if got := strings.Contains(msg, "vm.max_map_count"); got != c.wantMap {
					return fmt.Sprintf("%q names vm.max_map_count: %v, want %v", msg, got, c.wantMap)
				}
				if got := strings.Contains(msg, "ulimit -v") || strings.Contains(msg, "short of address space"); got == c.wantMap {
					return fmt.Sprintf("%q tells of address space (ulimit -v): %v, want %v", msg, got, !c.wantMap)
				}
				return ""
			})
			if msg != "" {
				t.Errorf("%s (at each of %d tries)", msg, limitTries)
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
