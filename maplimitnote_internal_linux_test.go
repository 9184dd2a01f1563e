package chunkmap

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestMapLimitNote checks that an error for want of memory names
// vm.max_map_count where the process's mappings are at that limit, and
// only there: raising ulimit -v, which the rest of the message suggests,
// does not help then.
func TestMapLimitNote(t *testing.T) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	n := int64(bytes.Count(b, []byte{'\n'}))
	for _, c := range []struct {
		name  string
		limit int64
		want  bool
	}{
		{"far below", 100 * n, false},
		{"at the limit", n, true},
		{"just above what the process has", n + 2, true},
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
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	n := int64(bytes.Count(b, []byte{'\n'}))
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
