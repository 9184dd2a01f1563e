//go:build !unix

package chunkmap

// canonicalDir returns dir: on Windows the system itself resolves ".." in a
// path as text, as filepath.Join does, and a directory's path is kept as
// given.
func canonicalDir(dir string) string { return dir }

// lastComponent returns dir, which Lstat checks as it is.
func lastComponent(dir string) string { return dir }
