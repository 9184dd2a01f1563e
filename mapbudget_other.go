//go:build !linux

package chunkmap

import "math"

// systemMapBudget is the most chunk mappings the Managers of the process
// keep between them: no bound here, where the system counts no mappings per
// process apart from address space and memory. It is final: true.
func systemMapBudget() (int64, bool) { return math.MaxInt64, true }

// spareMappings reports false: no system here counts a process's mappings
// apart from address space and memory.
func spareMappings() (int64, bool) { return 0, false }

// spareFiles reports false: the process's open descriptors are counted
// only on Linux.
func spareFiles() (int64, bool) { return 0, false }

// mapLimitNote returns "": no system here counts a process's mappings
// apart from address space and memory.
func mapLimitNote() string { return "" }
