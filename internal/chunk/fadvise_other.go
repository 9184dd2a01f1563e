//go:build !linux

package chunk

// fadvise does nothing: the platform has no posix_fadvise(2) that chunk
// uses, and the hints only change speed, never results.
func fadvise(c *File, off, n int64, a Advice) error { return nil }
