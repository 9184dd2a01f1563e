package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOutPath_WindowsForms checks that OUT is read as Windows reads a
// path: "\x" at the root of the current drive, "C:x" in that drive's
// current directory, and "L\..\x" as text. A resolve that took the first
// two for relative names made "<cwd>\x" and "<cwd>\C:\x" of them.
func TestOutPath_WindowsForms(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	vol := filepath.VolumeName(wd)
	for _, tc := range []struct{ out, want string }{
		{`\salvage-out`, vol + `\salvage-out`},
		{vol + `salvage-out`, filepath.Join(wd, "salvage-out")},
		{`L\..\salvage-out`, filepath.Join(wd, "salvage-out")},
		{`sub/salvage-out`, filepath.Join(wd, "sub", "salvage-out")},
	} {
		got, err := outPath(tc.out)
		if err != nil || got != tc.want {
			t.Errorf("outPath(%q) = %q, %v; want %q", tc.out, got, err, tc.want)
		}
	}
}
