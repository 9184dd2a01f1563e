//go:build linux

package chunkmap

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileBudget checks that the cache of open chunk files shrinks with a
// low descriptor limit instead of exhausting it.
func TestFileBudget(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	for _, tc := range []struct{ soft, want uint64 }{
		{256, 64},
		{40, 16},
		{1 << 20, maxOpenFiles},
	} {
		if tc.soft > old.Max {
			continue
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: tc.soft, Max: old.Max}); err != nil {
			t.Fatal(err)
		}
		if got := fileBudget(); uint64(got) != tc.want {
			t.Errorf("with a descriptor limit of %d: fileBudget() = %d, want %d", tc.soft, got, tc.want)
		}
	}
}
