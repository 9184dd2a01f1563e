//go:build !unix

package chunkmap

import "errors"

// detachMapping does nothing and says so: without a way to replace a
// mapping in place in one step, the manifest stays mapped until the closed
// Manager is unreachable (see releaseArenaLocked).
func detachMapping([]byte, bool) error { return errors.ErrUnsupported }
