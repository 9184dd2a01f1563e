//go:build !windows

package chunkmap

// unmapBeforeRemove is false where a mapped file can be unlinked: the
// mapping keeps the data alive until it is unmapped.
const unmapBeforeRemove = false
