//go:build linux

package chunkmap

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileBudget checks that the caches of open chunk files, a Manager's
// and all the process's, shrink with a low descriptor limit instead of
// exhausting it.
func TestFileBudget(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	for _, tc := range []struct{ soft, own, process int64 }{
		{256, 64, 64},
		{40, 10, 10},
		{12, 4, 4},
		{1 << 20, 0, 1 << 18}, // own: the Managers' shares, cacheShare
	} {
		if uint64(tc.soft) > old.Max {
			continue
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(tc.soft), Max: old.Max}); err != nil {
			t.Fatal(err)
		}
		// Managers earlier tests left open hold descriptors of
		// their own, which past their quarter come out of the caches'.
		if over := managerFiles.Load() - tc.process; over > 0 {
			tc.process = max(0, tc.process-over)
			tc.own = min(tc.own, tc.process)
		}
		if tc.own == 0 {
			tc.own = cacheShare(tc.process, arenasHeld.Load())
		}
		if own, process := fileBudgets(); own != tc.own || process != tc.process {
			t.Errorf("with a descriptor limit of %d: fileBudgets() = %d, %d; want %d, %d", tc.soft, own, process, tc.own, tc.process)
		}
	}
}
