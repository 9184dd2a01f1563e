//go:build !unix && !windows

package chunkmap

// detachStateLocked keeps the manifest mapped, and its file open, until the
// closed Manager is unreachable (releaseArenaLocked): without a way to
// replace a mapping in place in one step, or to take one away so that no
// store can reach what the system puts there next (detach_windows.go),
// the page stays for lock-free calls still in flight. mmap-go's Unmap of a
// writable view may flush the file through the handle it was mapped from,
// so the file is closed after the Unmap (retired.release).
//
// REQUIRES: m.mu held, m.live false, m.mfile not nil.
func (m *Manager) detachStateLocked() error {
	m.mfileOpen = true
	return nil
}
