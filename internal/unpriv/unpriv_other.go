//go:build !unix

package unpriv

import "testing"

// runChild is never called: os.Geteuid returns -1 off Unix.
func runChild(t *testing.T) {
	t.Helper()
	t.Skip("unpriv: needs Unix")
}

func reachable(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}
