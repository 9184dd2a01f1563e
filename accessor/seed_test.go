package accessor_test

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// testSeed returns the seed of a randomized test: the environment variable
// env if set (to replay a failure), else the clock. It logs the seed and
// how to replay it.
func testSeed(t *testing.T, env string) uint64 {
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
