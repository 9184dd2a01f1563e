package chunkmap

// loadFence orders the loads before it before the loads and stores after
// it: a DMB ISHLD (fence_arm64.s). An atomic read-modify-write (what
// fence_other.go uses) does not do that on every arm64 processor: without
// the LSE atomics of ARMv8.1 (ARMv8.0 cores, a Raspberry Pi 4's Cortex-A72
// among them) Go builds it from a load-acquire and a store-release, and a
// load after the pair may then be performed before a load ahead of it; a
// reader could check its slot before it had copied the bytes, and return
// bytes of a chunk mapped there in between.
func loadFence()
