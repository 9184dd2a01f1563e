//go:build !windows

package chunkmap

// unmapBeforeRemove is false where a mapped file can be unlinked: the
// mapping keeps the data alive until it is unmapped. It is a variable so
// that tests can run Windows's deferred removal here (export_test.go).
var unmapBeforeRemove = false
