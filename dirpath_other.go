//go:build !unix

package chunkmap

import "path/filepath"

// canonicalDir returns dir made absolute. The system itself resolves ".."
// in a path as text on Windows, as filepath.Abs does (GetFullPathName), so
// nothing else needs resolving; but a relative path is looked up from the
// working directory at every call, and a program that changes it after
// Open (os.Chdir) would send the Manager's files into another directory
// of the same relative name: its reads, growth and deletions into another
// dataset's chunk files. (On Unix the directory's handle keeps it in
// place; see dirpath_unix.go.) If dir cannot be made absolute, canonicalDir
// returns dir.
func canonicalDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// lastComponent returns dir, which Lstat checks as it is.
func lastComponent(dir string) string { return dir }
