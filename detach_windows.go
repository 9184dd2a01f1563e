package chunkmap

import (
	"errors"
	"fmt"
)

// detachStateLocked unmaps the manifest's state page and closes the file,
// at Close. Windows cannot delete a mapped file, nor replace a mapping in
// place in one step (detach_linux.go) where it has no placeholders, so a
// page kept until the closed Manager is unreachable kept the dataset from
// being removed (Remove, os.RemoveAll) until a garbage collection ran.
//
// The page's address may be the system's again the moment it is unmapped,
// and then memory it hands to anyone: a load from it faults or reads
// another owner's bytes, and a store would corrupt them. unmapped is set
// first, under mu, which every store to the page runs under and checks it
// (a store that checked before cannot come after: it holds mu), and every
// load checks it after loading and then counts for nothing; the hot paths
// check the shrink epoch and the slots, which Close moved and emptied
// before, after theirs (see sharedPage). A fault on the page is recovered
// by every guard that loads from it (catchPage, catchFault, endHot),
// whatever its address.
//
// mmap-go's Unmap of a writer's view flushes it through the file's handle
// first, so the file is closed after. Unmap leaves mm nil, so the retired
// Manager unmaps nothing more (retired.release): the address may be
// another mapping's by then. If the flush fails, the view stays (Unmap
// returns before UnmapViewOfFile), and the file cannot be deleted while
// the process lives; Close says so.
//
// REQUIRES: m.mu held, m.live false, m.mfile not nil.
func (m *Manager) detachStateLocked() error {
	if m.shared != nil {
		m.shared.unmapped.Store(true)
	}
	name := m.mfile.f.Name()
	var uerr error
	if err := m.mfile.mm.Unmap(); err != nil {
		uerr = fmt.Errorf("unmap manifest %s: %w", name, err)
	}
	return errors.Join(uerr, m.mfile.f.Close())
}
