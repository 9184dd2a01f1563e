//go:build !unix && !windows

package chunkmap

// mapRefused reports whether err is the system refusing a mapping for want
// of memory; these systems name no such error apart from the others.
func mapRefused(err error) bool { return false }

// mapRefusedHint is what a refused mapping's error adds for the operator.
const mapRefusedHint = "the process is out of address space or memory: free some"
