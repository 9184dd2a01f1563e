//go:build !windows

package chunk

import (
	"errors"
	"os"
)

// SyncDir fsyncs directory dir, making the creation, renaming and removal
// of its entries durable (fsync(2): syncing a file does not sync the
// directory entry that names it).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
