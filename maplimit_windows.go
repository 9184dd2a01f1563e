package chunkmap

import (
	"errors"

	"golang.org/x/sys/windows"
)

// mapRefused reports whether err is the system refusing a mapping for want
// of memory: no address space left for a view, or the commit limit
// reached.
func mapRefused(err error) bool {
	return errors.Is(err, windows.ERROR_NOT_ENOUGH_MEMORY) || errors.Is(err, windows.ERROR_COMMITMENT_LIMIT)
}

// mapRefusedHint is what a refused mapping's error adds for the operator.
const mapRefusedHint = "the process is out of address space or the system out of commit: raise the paging file's size"
