//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRun_Verify_OddNameCannotForgeReport checks that a file in the
// dataset directory whose name holds a newline and a terminal escape is
// listed quoted: printed as it was, the name ended verify's note line and
// began a "problem:" line of its own in an OK report, and its escape
// reached the operator's terminal. (Windows allows neither in a name.)
func TestRun_Verify_OddNameCannotForgeReport(t *testing.T) {
	dir := newDataset(t)
	odd := "x\n  problem: forged\x1b[31m"
	write(t, filepath.Join(dir, odd), "hostile")
	code, out, errOut := runCmd(t, "verify", dir)
	if code != exitOK {
		t.Fatalf("verify: status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  problem:") {
			t.Errorf("verify printed a problem line for a file's name:\n%s", out)
		}
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Errorf("verify printed the escape of a file's name raw:\n%q", out)
	}
	if want := `note: "x\n  problem: forged\x1b[31m" is not part of the dataset`; !strings.Contains(out, want) {
		t.Errorf("verify does not list the file quoted, %s:\n%s", want, out)
	}
}
