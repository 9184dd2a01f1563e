//go:build !chunkmap_interleave

package chunkmap

// atRace marks a race site; it does nothing outside chunkmap_interleave
// builds (see interleave.go).
func atRace(raceSite) {}
