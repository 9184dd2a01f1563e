package chunkmap

import "github.com/chunkmap/chunkmap/internal/vfs"

// SetFS makes the Managers that Open returns for o do every file operation
// through f (see package vfs), for tests that record operations or make
// them fail.
func SetFS(o *Options, f vfs.FS) { o.fs = f }

// RenameFS is Rename doing its file operations through f (the exchange of
// two directories aside, which no vfs.FS has).
func RenameFS(f vfs.FS, from, to string) error { return renameIn(f, from, to) }
