package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap/internal/testseed"
)

// testSeed returns the seed of a randomized test (see testseed.Get).
func testSeed(t *testing.T, env string) uint64 {
	t.Helper()
	return testseed.Get(t, env)
}
