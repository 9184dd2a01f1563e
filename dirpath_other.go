//go:build !unix

package chunkmap

// joinable returns dir: on Windows the system itself resolves ".." in a
// path as text, as filepath.Join does.
func joinable(dir string) string { return dir }
