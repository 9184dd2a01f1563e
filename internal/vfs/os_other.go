//go:build !unix && !windows

package vfs

import (
	"errors"
	"os"
)

// openFlags is empty: this platform has neither O_NOFOLLOW nor FIFOs that
// block an open; the regular-file check after the open refuses the rest.
const openFlags = 0

func clearNonblock(*os.File) error { return nil }

// syncDir fsyncs directory dir where the platform allows it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
