//go:build unix

package chunkmap

import (
	"path/filepath"
	"strings"
)

// joinable returns dir in a form whose joins with a file name mean what the
// kernel makes of dir: filepath.Join cleans its result as text, but the
// kernel resolves "L/.." to the parent of what L points to, not to "." when
// L is a symlink. A dir without a ".." component is returned as it is, and
// so is one whose part up to its last ".." does not exist (yet).
func joinable(dir string) string {
	parts := strings.Split(dir, string(filepath.Separator))
	last := -1
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == ".." {
			last = i
			break
		}
	}
	if last < 0 {
		return dir
	}
	prefix := strings.Join(parts[:last+1], string(filepath.Separator))
	real, err := filepath.EvalSymlinks(prefix)
	if err != nil {
		return dir
	}
	return filepath.Join(append([]string{real}, parts[last+1:]...)...)
}
