package chunkmap

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMapBudget_RefusedReadDoesNotStick reads the process's budget of
// mappings first while the process has no descriptor left, then again
// with descriptors. The budget is a quarter of vm.max_map_count, read once
// per process; a read refused for want of a descriptor took Linux's
// default, 65,530, and kept it for good, so a system whose limit was
// raised (as many distributions ship it now) kept its Managers to a
// quarter of that for the life of the process, and one whose limit was
// lowered let them take more than half of its mappings.
func TestMapBudget_RefusedReadDoesNotStick(t *testing.T) {
	for _, limit := range []int64{400000, 20000} {
		f := filepath.Join(t.TempDir(), "max_map_count")
		if err := os.WriteFile(f, fmt.Appendf(nil, "%d\n", limit), 0o644); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func(p string) { maxMapCountFile = p }(maxMapCountFile)
			maxMapCountFile = f
			defer freshSystemBudget()()
			withoutDescriptors(t, func() { mapBudget() })
			if got, want := mapBudget(), limit/4; got != want {
				t.Errorf("vm.max_map_count %d, first read out of descriptors: budget %d, want %d", limit, got, want)
			}
		}()
	}
}

// freshSystemBudget makes the next mapBudget read the system's limit, as
// the first in a process does, and returns what puts the budget read
// before back.
func freshSystemBudget() (restore func()) {
	saved := systemBudget.Swap(0)
	return func() { systemBudget.Store(saved) }
}

// withoutDescriptors runs f with every descriptor the process may open in
// use.
func withoutDescriptors(t *testing.T, f func()) {
	t.Helper()
	// The runtime's poller, made at the first file it may poll, must not
	// be made out of descriptors, which ends the process.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = min(lim.Cur, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	var fill []int
	for {
		fd, err := syscall.Dup(0)
		if err != nil {
			break
		}
		fill = append(fill, fd)
	}
	defer func() {
		for _, fd := range fill {
			syscall.Close(fd)
		}
	}()
	f()
}

// TestMapBudget_UnreadableLimitIsFinal: where the limit cannot be read for
// a reason of the system's (a sandbox whose /proc answers with an error,
// here a directory under the name), the default is kept after the first
// read, as where /proc is missing: the budget is asked for on the paths
// that map and unmap chunks, which would otherwise read the file every
// time.
func TestMapBudget_UnreadableLimitIsFinal(t *testing.T) {
	defer func(p string) { maxMapCountFile = p }(maxMapCountFile)
	for _, name := range []string{"dir", "missing"} {
		maxMapCountFile = filepath.Join(t.TempDir(), name)
		if name == "dir" {
			if err := os.Mkdir(maxMapCountFile, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		func() {
			defer freshSystemBudget()()
			if got, want := mapBudget(), int64(65530/4); got != want {
				t.Errorf("%s: budget %d, want Linux's default's quarter, %d", name, got, want)
			}
			if got := systemBudget.Load(); got != 65530/4 {
				t.Errorf("%s: the budget kept is %d, want %d: it would be read again on every map and unmap", name, got, 65530/4)
			}
		}()
	}
}
