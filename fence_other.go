//go:build !(386 || amd64 || s390x || arm64)

package chunkmap

import "sync/atomic"

// loadFence orders the loads before it before the loads after it. On
// processors with weaker ordering a plain load may be performed after a
// later atomic load; an atomic read-modify-write, which Go builds there
// with barriers on both sides (ppc64, riscv64, loong64, mips, arm), keeps
// the copy that came before it ahead of the check of the slot's own word
// that follows. (arm64 has its own, fence_arm64.go: there it is not so.) The word is a
// local, so no cache line is shared between goroutines.
func loadFence() {
	var w atomic.Int32
	w.Add(1)
}
