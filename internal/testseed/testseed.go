// Package testseed gives every randomized test of the module its seed the
// same way: from an environment variable when one is set, to replay a
// failure, and else from the clock, logged with how to replay it.
package testseed

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Get returns the seed of a randomized test: the environment variable env
// if set, else the clock. It logs the seed and how to replay it, and fails
// the test if env is set to something that is not a seed.
func Get(t testing.TB, env string) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(env); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with %s=%d)", seed, env, seed)
	return seed
}
