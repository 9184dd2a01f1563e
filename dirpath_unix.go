//go:build unix

package chunkmap

import (
	"path/filepath"
	"strings"
)

// canonicalDir returns the path of the directory dir names, absolute and
// with every symlink resolved, as the kernel resolves it ("L/.." is the
// parent of what L points to, where filepath.Join would make it "."). A
// Manager keeps this path, not dir: joining file names to it means what
// the kernel makes of them, and a symlink among dir's parents that another
// program points elsewhere after Open cannot send the Manager's files into
// another directory. If dir cannot be resolved (it does not exist yet),
// canonicalDir returns dir.
func canonicalDir(dir string) string {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return dir
	}
	if abs, err := filepath.Abs(real); err == nil {
		return abs
	}
	return real
}

// lastComponent returns dir without the trailing separators and "."
// components that make the kernel follow a symlink dir names ("link/" and
// "link/." are the directory link points to): what Lstat must look at to
// tell whether the dataset's directory is itself a symlink.
func lastComponent(dir string) string {
	sep := string(filepath.Separator)
	for {
		t := strings.TrimRight(dir, sep)
		if t == "" {
			return sep
		}
		base, found := strings.CutSuffix(t, sep+".")
		if !found {
			return t
		}
		if base == "" {
			return sep
		}
		dir = base
	}
}
