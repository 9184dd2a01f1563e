//go:build !linux

package chunkmap

// processBarrier has no cross-thread barrier to call on this platform; see
// barrier_linux.go for the window it closes there.
func processBarrier() {}
