//go:build !windows

package chunkmap

import "testing"

// skipIfHeldDelete does nothing: elsewhere a chunk file held by another
// Manager can be deleted (see heldskip_windows_test.go).
func skipIfHeldDelete(testing.TB, error) {}

// skipCrossChunk does nothing: elsewhere chunks can be mapped side by
// side (see heldskip_windows_test.go).
func skipCrossChunk(testing.TB, error) {}

// skipNoSideBySide does nothing: elsewhere the arena maps chunks side by
// side (see heldskip_windows_test.go).
func skipNoSideBySide(testing.TB, *Manager) {}

// crossChunkLimit reports false: there is no such limit here (see
// heldskip_windows_test.go).
func crossChunkLimit(error) bool { return false }
