//go:build !linux

package chunkmap

// addressSpaceInUse returns the address space the process has mapped, and
// whether it is known: not here (reserveArena then measures the room left
// under the limit, see freeAddressSpace).
func addressSpaceInUse() (uint64, bool) { return 0, false }
