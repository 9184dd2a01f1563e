package chunkmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// systemMapBudget is the most chunk mappings the Managers of the process
// keep between them (see mapBudget): a quarter of vm.max_map_count, the most
// mappings Linux lets a process have. A chunk mapped in an arena takes up
// to two of them (itself, and the piece of reservation it splits off), so
// the Managers take at most half, and the rest of the program keeps the
// other half: a Go program whose runtime cannot map a heap arena or a
// thread's stack dies. If the limit cannot be read, Linux's default (65,530)
// stands. It reports whether the budget is the system's for good (see
// readMaxMapCount).
func systemMapBudget() (int64, bool) {
	n, final := readMaxMapCount()
	return max(1, n/4), final
}

// maxMapCountFile is where Linux tells vm.max_map_count; tests name another.
var maxMapCountFile = "/proc/sys/vm/max_map_count"

// mapCountLimit is maxMapCount, or what a test has it say.
var mapCountLimit = maxMapCount

// maxMapCount returns vm.max_map_count, or Linux's default (65,530) if it
// cannot be read.
func maxMapCount() int64 {
	n, _ := readMaxMapCount()
	return n
}

// readMaxMapCount is maxMapCount, and reports whether its answer holds for
// the life of the process: the limit read, or the default where the system
// has none to read (no /proc, a sandbox that hides it or answers with an
// error). A read that failed for want of a resource of the process's (no
// descriptor was left, or no memory) says nothing of the system, and the
// next may succeed; only those are read again, since the budget is asked
// for on the paths that map and unmap chunks.
func readMaxMapCount() (n int64, final bool) {
	b, err := os.ReadFile(maxMapCountFile)
	if err != nil {
		return 65530, !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) && !errors.Is(err, syscall.ENOMEM)
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
		return n, true
	}
	return 65530, true
}

// mapLimitNote says, for the error of a reservation the system refused
// with ENOMEM, whether the process is at its limit of mappings rather than
// of address space: then raising ulimit -v would not help (see arenaErr).
// It returns "" where the process has room for mappings, or the counts
// cannot be read.
func mapLimitNote() string {
	n, ok := mappingCount()
	if !ok {
		return ""
	}
	limit := mapCountLimit()
	if n < limit-limit/16 {
		return ""
	}
	return fmt.Sprintf("the process is at its limit of mappings, not of address space: it has %d of the %d vm.max_map_count allows; close Managers, or raise the limit (sysctl vm.max_map_count)", n, limit)
}

// spareMappings returns how many more mappings the process may make and
// still leave a quarter of vm.max_map_count to the rest of the program
// (negative where it holds more), and whether the count could be read.
// It reads the whole of /proc/self/maps: a Manager asks only to raise a
// bound that a refused mapping lowered (recoverLocked), at most once per
// raiseFirst misses.
func spareMappings() (int64, bool) {
	n, ok := mappingCount()
	if !ok {
		return 0, false
	}
	limit := mapCountLimit()
	return limit - limit/4 - n, true
}

// spareFiles returns how many more descriptors the process may open and
// still leave a quarter of its limit (RLIMIT_NOFILE) to the rest of the
// program (negative where it holds more), and whether it could tell. A
// process refused the descriptor it needs to list its own has none to
// spare. Like spareMappings, it is asked only to raise a bound that a
// refusal lowered.
func spareFiles() (int64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<40 {
		return 0, false
	}
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, filesRefused(err)
	}
	defer f.Close()
	n := int64(-1) // the directory's own descriptor
	for {
		names, err := f.Readdirnames(256)
		n += int64(len(names))
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, false
		}
	}
	limit := int64(r.Cur)
	return limit - limit/4 - n, true
}

// mappingCount returns the number of mappings the process has (the lines
// of /proc/self/maps), and whether it could be read. It reads through one
// small buffer: it is called where the process is at its limit of
// mappings, whose file is some 5 MiB at Linux's default, and growing the
// heap by that much might need a mapping the kernel refuses, which the Go
// runtime dies of.
func mappingCount() (int64, bool) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var (
		buf [16 << 10]byte
		n   int64
	)
	for {
		k, err := f.Read(buf[:])
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, true
		}
		if err != nil {
			return 0, false
		}
	}
}
