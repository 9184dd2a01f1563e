//go:build chunkmap_interleave

package chunkmap

import "sync/atomic"

// raceHook, if set, runs at every race site (see interleave.go).
var raceHook atomic.Pointer[func(raceSite)]

// atRace runs raceHook at site.
func atRace(site raceSite) {
	if f := raceHook.Load(); f != nil {
		(*f)(site)
	}
}
