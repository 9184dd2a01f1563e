package chunkmap

import (
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
func systemMapBudget() int64 {
	limit := int64(65530)
	if b, err := os.ReadFile("/proc/sys/vm/max_map_count"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			limit = n
		}
	}
	return max(1, limit/4)
}
