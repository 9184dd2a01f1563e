package chunkmap

import (
	"errors"
	"testing"

	"golang.org/x/sys/windows"
)

// skipIfHeldDelete skips t if err is Windows's documented limit (README,
// "Platforms"): a chunk file that another Manager, a follower in this
// process or another, has mapped or open cannot be deleted, so Truncate,
// DropBefore and a growth over a file left past Size fail with ErrIO
// (ERROR_SHARING_VIOLATION) while it holds the file, and so does a test's
// own os.Remove of such a file (another program's, on Unix).
func skipIfHeldDelete(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
		t.Skipf("Windows cannot delete a chunk file another Manager holds (README, Platforms): %v", err)
	}
}

// skipCrossChunk skips t if err is the documented limit of Windows without
// placeholders (before 1803, Wine): a pin or batch across chunks fails with
// errors.ErrUnsupported (README, "Platforms").
func skipCrossChunk(t testing.TB, err error) {
	t.Helper()
	if crossChunkLimit(err) {
		t.Skipf("Windows without placeholders cannot map chunks side by side; a pin or batch across chunks is unsupported (README, Platforms): %v", err)
	}
}

// skipNoSideBySide skips t where m's arena cannot map chunks side by side
// (Windows without placeholders: before 1803, Wine), which t needs: a pin
// or batch across chunks is unsupported there (README, "Platforms"). It
// closes m first, so that t.TempDir's cleanup can delete its files.
func skipNoSideBySide(t testing.TB, m *Manager) {
	t.Helper()
	if m.ar != nil && !m.ar.Contiguous() {
		m.Close()
		t.Skip("Windows without placeholders cannot map chunks side by side; a pin or batch across chunks is unsupported (README, Platforms)")
	}
}

// crossChunkLimit reports whether err is that limit of Windows without
// placeholders, for a test that cannot skip where it meets it (off the test's
// goroutine).
func crossChunkLimit(err error) bool { return errors.Is(err, errors.ErrUnsupported) }
