package main

import (
	"errors"
	"testing"

	"golang.org/x/sys/windows"
)

// lockFiles is how many files beside MANIFEST and the chunk files a closed
// dataset's directory holds: the LOCK file the writer's lock is taken on,
// which stays (README, "Platforms").
const lockFiles = 1

// chunkModeShown is how verify shows the mode of a chunk file the library
// made with its default FileMode: Windows keeps only a read-only
// attribute, so every writable file reads as 0666.
const chunkModeShown = "-rw-rw-rw-"

// skipIfHeldDelete skips t if err is Windows's documented limit (README,
// "Platforms"): a chunk file that a Manager or a reader holds open or
// mapped cannot be deleted.
func skipIfHeldDelete(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
		t.Skipf("Windows cannot delete a chunk file a Manager or reader holds (README, Platforms): %v", err)
	}
}
