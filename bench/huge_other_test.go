//go:build !linux

package bench

import "testing"

// reportHuge reports nothing where there is no /proc/self/smaps.
func reportHuge(*testing.B, Dataset) {}

// settle does nothing where reportHuge reports nothing: the page cache's
// folio sizes are left as they are.
func settle(*testing.B, Dataset) {}
