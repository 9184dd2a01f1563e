//go:build !unix

package chunkmap

// addressSpaceLimit returns the process's limit on address space, and
// whether it has one: these systems set none that a process can read.
func addressSpaceLimit() (uint64, bool) { return 0, false }
