//go:build !unix

package chunkmap

// fileBudget is how many chunk files a Manager keeps open for pread and
// pwrite. Windows has no small per-process handle limit to share.
func fileBudget() int { return maxOpenFiles }
