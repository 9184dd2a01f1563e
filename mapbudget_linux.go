package chunkmap

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// systemMapBudget is the most chunk mappings the Managers of the process
// keep between them (see mapBudget): a quarter of vm.max_map_count, the most
// mappings Linux lets a process have. A chunk mapped in an arena takes up
// to two of them (itself, and the piece of reservation it splits off), so
// the Managers take at most half, and the rest of the program keeps the
// other half: a Go program whose runtime cannot map a heap arena or a
// thread's stack dies. If the limit cannot be read, Linux's default (65,530)
// stands.
func systemMapBudget() int64 { return max(1, maxMapCount()/4) }

// mapCountLimit is maxMapCount, or what a test has it say.
var mapCountLimit = maxMapCount

// maxMapCount returns vm.max_map_count, or Linux's default (65,530) if it
// cannot be read.
func maxMapCount() int64 {
	if b, err := os.ReadFile("/proc/sys/vm/max_map_count"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 65530
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
