//go:build 386 || amd64 || s390x

package chunkmap

// loadFence orders the loads before it before the loads after it. These
// processors never reorder loads with loads (total store order), and the Go
// compiler does not move a load across an atomic load, so it is empty.
func loadFence() {}
