//go:build !(386 || amd64 || s390x)

package chunkmap

import "sync/atomic"

// loadFence orders the loads before it before the loads after it. On
// processors with weaker ordering (arm64, for one) a plain load may be
// performed after a later atomic load; an atomic read-modify-write has
// acquire and release semantics and so keeps the copy that came before it
// ahead of the check of the slot's own word that follows. The word is a
// local, so no cache line is shared between goroutines.
func loadFence() {
	var w atomic.Int32
	w.Add(1)
}
