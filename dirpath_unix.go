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
//
// The last component itself is never followed: the caller looked at it
// (Lstat) and found a directory, but another program may have put a
// symlink under its name since, and resolving that would take the Manager
// to wherever it points (another dataset). The opens of the directory
// refuse a symlink there instead (O_NOFOLLOW).
func canonicalDir(dir string) string {
	// Split as text, not with filepath.Dir, which would clean "L/.."
	// away before the kernel's meaning of it is taken.
	last := lastComponent(dir)
	parent, base := ".", last
	if i := strings.LastIndex(last, string(filepath.Separator)); i >= 0 {
		parent, base = last[:i+1], last[i+1:]
	}
	if base == ".." || base == "." || base == "" {
		// Not a name a symlink can stand under: resolve it whole.
		parent, base = last, ""
	}
	real, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return dir
	}
	if abs, err := filepath.Abs(real); err == nil {
		real = abs
	}
	return filepath.Join(real, base)
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
