package chunkmap

import (
	"bytes"
	"os"
	"strings"
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
