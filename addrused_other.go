//go:build !linux

package chunkmap

// addressSpaceInUse returns the address space the process has mapped, and
// whether it is known: not here (the arenas then take a quarter of the
// limit itself, see reserveArena).
func addressSpaceInUse() (uint64, bool) { return 0, false }
