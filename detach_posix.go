//go:build unix

package chunkmap

// detachStateLocked lets go of the manifest file at Close. The state page
// stays at its address, for lock-free calls still in flight, until the
// arena goes (releaseArenaLocked); but as a copy of itself, so that the
// manifest's file is no longer mapped: it may be deleted, its space freed
// and its file system unmounted while the program keeps the closed
// Manager. A page that cannot be copied stays a mapping of the file until
// then, which costs nothing but that.
//
// REQUIRES: m.mu held, m.live false, m.mfile not nil.
func (m *Manager) detachStateLocked() error {
	_ = detachMapping(m.mfile.mm, !m.opts.ReadOnly)
	return m.mfile.f.Close()
}
