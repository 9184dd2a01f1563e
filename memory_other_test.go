//go:build !linux

package chunkmap_test

import "testing"

// datasetMappings reports false: only Linux lists a process's mappings
// where a test can read them (/proc/self/maps).
func datasetMappings(t *testing.T, dir string) (int, bool) { return 0, false }
