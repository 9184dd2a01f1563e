//go:build !race

package chunkmap_test

// raceEnabled is whether the race detector is on: long randomized tests
// run fewer rounds under it, which slows them about five times.
const raceEnabled = false
