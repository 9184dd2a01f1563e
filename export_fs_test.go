package chunkmap

import "github.com/chunkmap/chunkmap/internal/vfs"

// SetFS makes the Managers that Open returns for o do every file operation
// through f (see package vfs), for tests that record operations or make
// them fail.
func SetFS(o *Options, f vfs.FS) { o.fs = f }
