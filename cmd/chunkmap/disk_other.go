//go:build !unix

package main

import (
	"io/fs"
	"os"
	"path/filepath"
)

// allocated returns the file's size: without st_blocks the allocation is not
// known; on Windows chunk files are allocated whole, so their size is what
// they take.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }

// openDir opens the directory dir to list it.
func openDir(dir string) (*os.File, error) { return os.Open(dir) }

// giveOwnerMode gives the directory path the mode of the directory fi
// describes. Without Unix owners a new directory has what an empty one
// given as OUT had otherwise (its ACL is inherited from the same parent).
func giveOwnerMode(path string, fi fs.FileInfo) error {
	return os.Chmod(path, fi.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky))
}

// giveFilesOwner does nothing: without Unix owners the files salvage makes
// in a directory inherit its ACL, as any new file does.
func giveFilesOwner(dir string, fi fs.FileInfo) error { return nil }

// renameDir renames the directory from to to. On Windows it fails where
// to exists (MoveFileEx replaces no directory), and salvage then copies
// into to itself.
func renameDir(from, to string) error { return os.Rename(from, to) }

// resolve returns path absolute, as the system reads it. Windows
// normalizes a path as text before any file system sees it
// (GetFullPathNameW: "L\..\x" is x beside L, whatever L is; "\x" is x at
// the root of the current drive, "C:x" x in drive C's current directory),
// which is what filepath.Abs does.
func resolve(path string) (string, error) { return filepath.Abs(path) }
