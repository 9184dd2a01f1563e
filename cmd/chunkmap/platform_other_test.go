//go:build !windows

package main

import "testing"

// lockFiles is how many files beside MANIFEST and the chunk files a closed
// dataset's directory holds: none here, where the writer's lock is a flock
// of the directory.
const lockFiles = 0

// chunkModeShown is how ls and verify show the mode of a chunk file the
// library made with its default FileMode.
const chunkModeShown = "-rw-r--r--"

// skipIfHeldDelete does nothing here: a file another descriptor or mapping
// holds can be deleted.
func skipIfHeldDelete(t *testing.T, err error) { t.Helper() }
