//go:build !linux

package bench

import "testing"

// reportHuge reports nothing where there is no /proc/self/smaps.
func reportHuge(*testing.B, Dataset) {}
