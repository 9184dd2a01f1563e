//go:build !unix

package chunkmap

import "github.com/chunkmap/chunkmap/internal/vfs"

// stickyRefusal returns nil: there is no sticky directory off Unix.
func stickyRefusal(fsys vfs.FS, dir string, names []string) error { return nil }
